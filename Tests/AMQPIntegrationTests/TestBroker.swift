import AMQP
import Foundation
import Testing

/// The broker started by deploy/local/test.sh. Tests fail, not skip, without it: a green run must
/// mean the client worked against a real broker.
enum TestBroker {
    static var url: String {
        ProcessInfo.processInfo.environment["WMG_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/%2f"
    }

    static var node: String {
        ProcessInfo.processInfo.environment["WMG_TEST_RABBITMQ_NODE"] ?? "wmg5673@localhost"
    }

    static func configuration(name: String = "test-\(UUID().uuidString.prefix(8))", heartbeat: Int = 10) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url)
        configuration.connectionName = name
        configuration.heartbeatSeconds = heartbeat
        return configuration
    }

    static func connect(name: String = "test-\(UUID().uuidString.prefix(8))", heartbeat: Int = 10) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(name: name, heartbeat: heartbeat))
    }

    static func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(12))" }

    /// Runs rabbitmqctl against the test node; returns its standard output.
    @discardableResult
    static func rabbitmqctl(_ arguments: [String]) throws -> String {
        let process = Process()
        // The test command points WMG_TEST_RABBITMQCTL at the RabbitMQ 4 node's own rabbitmqctl.
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["WMG_TEST_RABBITMQCTL"] ?? "/usr/sbin/rabbitmqctl")
        process.arguments = ["-q", "-n", node] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Closes, from the broker's side, every connection whose client-provided name is `name`.
    /// The broker lists a connection a moment after login, so this waits for it to appear.
    static func forceClose(connectionNamed name: String) async throws -> Int {
        // The default table output names the pid in the form close_connection accepts (the JSON
        // formatter does not), one connection per line: "<pid>\t[{...,{"connection_name","NAME"}}]".
        let needle = "{\"connection_name\",\"\(name)\"}"
        for _ in 0..<50 {
            let listing = try rabbitmqctl(["list_connections", "pid", "client_properties"])
            var closed = 0
            for line in listing.split(separator: "\n") where line.contains(needle) {
                guard let pid = line.split(separator: "\t").first else { continue }
                try rabbitmqctl(["close_connection", String(pid), "closed by test"])
                closed += 1
            }
            if closed > 0 { return closed }
            try await Task.sleep(for: .milliseconds(100))
        }
        return 0
    }
}

extension AMQPChannel {
    /// A throwaway classic queue for one test.
    func temporaryQueue(_ prefix: String = "q", arguments: FieldTable = [:]) async throws -> String {
        let name = TestBroker.uniqueName(prefix)
        try await declareQueue(name, durable: false, autoDelete: false, arguments: arguments)
        return name
    }
}

/// Waits for the next element, failing the test instead of hanging when none comes in time.
func next<S: AsyncSequence & Sendable>(
    _ sequence: S, within seconds: Double = 10
) async throws -> S.Element? where S.Element: Sendable {
    try await withThrowingTaskGroup(of: S.Element?.self) { group in
        group.addTask {
            var iterator = sequence.makeAsyncIterator()
            return try await iterator.next()
        }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimeoutError(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "nothing arrived within \(seconds) s" }
}
