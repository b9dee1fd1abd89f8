import AMQP
import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the built `workmode-gateway` executable as a separate process, the way operators do.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let outputPath: String
    /// `@unchecked Sendable`: `process` is only started once and then only queried or signalled.

    init(executable: String = Harness.binary, arguments: [String], environment: [String: String] = [:], outputPath: String) throws {
        self.outputPath = outputPath
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WMG_") || $0.key.hasPrefix("WMG_TEST_") }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// A process nobody holds any more is killed: a test that fails half-way through setting up
    /// (the broker down, say) must not leave a simulator or gateway behind.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end; returns its exit status, or nil when it is still running after `timeout`.
    func waitForExit(timeout: Duration) async -> Int32? {
        let end = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() async {
        guard process.isRunning else { return }
        signal(SIGKILL)
        _ = await waitForExit(timeout: .seconds(5))
    }

    /// Waits until the output contains `text`.
    func waitForOutput(_ text: String, timeout: Duration = .seconds(30)) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        // Once more after the deadline: a stall of this process past it (seen with one core busy:
        // every child had printed its line) is not the child's failure to start.
        return output.contains(text)
    }
}

enum Harness {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var binary: String {
        ProcessInfo.processInfo.environment["WMG_TEST_BINARY"] ?? packageRoot + "/.build/debug/workmode-gateway"
    }

    static var amqpURL: String {
        ProcessInfo.processInfo.environment["WMG_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/%2f"
    }

    /// The shared test broker's port.
    static var sharedBrokerPort: Int { (try? AMQPConfiguration(url: amqpURL))?.port ?? 5673 }

    static var node: String { ProcessInfo.processInfo.environment["WMG_TEST_RABBITMQ_NODE"] ?? "wmg5673@localhost" }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "wmg-e2e-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The test broker's rabbitmqctl: the system's, or `WMG_TEST_RABBITMQCTL` (the test command
    /// points it at the RabbitMQ 4 node's own, inside its root folder).
    static var rabbitmqctlPath: String { ProcessInfo.processInfo.environment["WMG_TEST_RABBITMQCTL"] ?? "/usr/sbin/rabbitmqctl" }

    static func rabbitmqctl(_ arguments: [String]) async throws -> String {
        try await Subprocess.run(rabbitmqctlPath, ["-q", "-n", node] + arguments).output
    }
}

/// A simulator process on a free port.
struct SimulatorProcess {
    let child: ChildProcess
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func start(directory: String, tenants: [String: String], extra: [String] = []) async throws -> SimulatorProcess {
        var output = ""
        // A port checked free can be taken before the simulator binds it (a flake-finder run saw
        // "Address already in use"): then another one.
        for _ in 0..<5 {
            // Below 25000: test brokers take 25000 + their AMQP port for Erlang distribution, and a
            // node whose distribution port is taken never starts.
            let port = Harness.freePort(in: 20000...24999)
            var arguments = ["simulate", "--listen", "127.0.0.1:\(port)", "--auto-sessions"] + extra
            for (tenant, secret) in tenants { arguments += ["--tenant", "\(tenant):\(secret)"] }
            let child = try ChildProcess(arguments: arguments, outputPath: directory + "/simulator.log")
            if await child.waitForOutput("listening on") { return SimulatorProcess(child: child, port: port) }
            output = child.output
            child.signal(SIGKILL)
            guard output.contains("Address already in use") else { break }
        }
        throw HarnessError("simulator did not start: \(output)")
    }

    func control(_ method: String, _ path: String, body: String? = nil) async throws -> Data {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let body { request.httpBody = Data(body.utf8) }
        let (data, _) = try await URLSession.shared.data(for: request)
        return data
    }

    func requests() async throws -> [[String: Any]] {
        (try JSONSerialization.jsonObject(with: try await control("GET", "/simulator/requests")) as? [[String: Any]]) ?? []
    }
}

extension Harness {
    /// A port in `range` that nothing listens on right now (checked by binding it) and that no
    /// other test of this process was given, drawn at random. The check alone was not enough:
    /// tests run in parallel, and two of them could draw the same free port before either bound it.
    static func freePort(in range: ClosedRange<Int>) -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: range)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return port }
            defer { close(fd) }
            if bindLoopback(fd, port: port) { return port }
        }
        return Int.random(in: range)
    }

    /// A loopback port where nothing listens, held so for as long as the returned value lives: a
    /// socket bound to it (the kernel chose it) and never listening, so a connect is refused at
    /// once, and no server, port-0 bind or outgoing connection of any process can take the port
    /// meanwhile. A port merely checked free did get taken: an in-process simulator's port-0 bind
    /// got one inside the ephemeral range, and a gateway "unable to reach" OIFDE sent it a command.
    static func closedPort() throws -> ClosedPort {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, bindLoopback(fd, port: 0) else {
            if fd >= 0 { close(fd) }
            throw HarnessError("no loopback port could be bound")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            close(fd)
            throw HarnessError("getsockname failed")
        }
        return ClosedPort(fd: fd, port: Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port for a throwaway broker of a test's own (deploy/local/broker.sh): it and the ports the
    /// node derives from it (TLS +10000, distribution +20000, a port mapper +30000) are free now.
    /// Fixed ports failed a clean clone's run when another node on the machine held one.
    static func freeBrokerPort() -> Int {
        for _ in 0..<200 {
            let port = freePort(in: 5710...5999)
            let all = [port, port + 10000, port + 20000, port + 30000].allSatisfy { candidate in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                return fd >= 0 && bindLoopback(fd, port: candidate)
            }
            if all { return port }
        }
        return freePort(in: 5710...5999)
    }

    /// Every port `freePort` gave out in this process; never given twice.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Binds `fd` to 127.0.0.1:`port`; true when it worked.
    static func bindLoopback(_ fd: Int32, port: Int) -> Bool {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }
}

/// A port nothing listens on, kept so until this is released (``Harness/closedPort()``).
final class ClosedPort: Sendable {
    let port: Int
    private let fd: Int32

    init(fd: Int32, port: Int) {
        self.fd = fd
        self.port = port
    }

    deinit { close(fd) }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
