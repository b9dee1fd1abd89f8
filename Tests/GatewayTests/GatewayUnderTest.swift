import AMQP
import Foundation
import GatewayConfig
import Operations
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One gateway process with its own exchanges and queues on the shared test broker, a simulator
/// process, and a tap on the results exchange.
final class GatewayUnderTest: @unchecked Sendable {
    /// `@unchecked Sendable`: `gateway` is replaced only by `restart()`, which tests call from one task.
    let directory: String
    let prefix: String
    let simulator: SimulatorProcess
    var gateway: ChildProcess
    let connection: AMQPConnection
    let channel: AMQPChannel
    let results: AMQPConsumer
    private final class ResultBuffer: Sendable {
        struct Contents {
            var bodies: [[UInt8]] = []
            /// Every event the tap saw (body, content type, headers), for the schema check at the end.
            var seen: [Delivery] = []
            var ended = false
        }
        let contents = Mutex(Contents())
        func withLock<T>(_ body: (inout Contents) -> T) -> T { contents.withLock { body(&$0) } }
    }
    private let resultBuffer = ResultBuffer()
    private var resultReader: Task<Void, Never>?
    let configPath: String
    /// The admin listener's port (`/health/*`, `/metrics`).
    /// Above Linux's ephemeral range (32768–60999): a port there can be taken by any outgoing
    /// connection, and a gateway whose admin listener cannot bind stops.
    let adminPort = Harness.freePort(in: 61000...64999)
    /// `WMG_` overrides for this test, passed to every gateway launch.
    let environment: [String: String]
    private(set) var launches = 0
    /// The highest dead-letter offset ``drainDeadLetters()`` has returned.
    private let deadLetterCursor = Mutex<Int64>(-1)

    /// This test's configuration as the operator tools load it (its file, without the
    /// per-launch `WMG_` overrides, which name no dead-letter setting).
    func configuration() throws -> GatewayConfiguration { try ConfigurationLoader().load(path: configPath) }

    var commandsExchange: String { prefix + ".commands" }
    var deadLetterQueue: String { prefix + ".dead" }

    static let secret = "tenant-one-secret-\(UUID().uuidString.prefix(6))"

    /// - Parameters:
    ///   - prepare: runs on the test's channel, with the topology prefix, before the gateway starts.
    ///   - waitUntilConsuming: false for tests that expect the gateway to refuse to start.
    ///   - tenants: tenant IDs (all with the same secret) and their `rateLimit` (0: none).
    init(
        environment: [String: String] = [:], simulatorArguments: [String] = [], logFormat: String = "json",
        amqpURL: String = Harness.amqpURL, prepare: ((AMQPChannel, String) async throws -> Void)? = nil,
        waitUntilConsuming: Bool = true, tenants: [String: Double] = ["t1": 0]
    ) async throws {
        let prefix = "t-" + UUID().uuidString.prefix(8).lowercased()
        self.prefix = prefix
        // Its own connection name, so a test can close exactly this gateway's connections.
        self.environment = environment.merging(["WMG_AMQP_CONNECTIONNAME": "wmg-" + prefix]) { $1 }
        directory = try Harness.temporaryDirectory()
        simulator = try await SimulatorProcess.start(directory: directory, tenants: tenants.mapValues { _ in Self.secret }, extra: simulatorArguments)
        try Self.secret.write(toFile: directory + "/t1.secret", atomically: true, encoding: .utf8)
        configPath = directory + "/gateway.yaml"
        let secretFile = directory + "/t1.secret"
        let tenantLines = tenants.sorted { $0.key < $1.key }.map { tenant, rate in
            "      \(tenant): {appSecretFile: \(secretFile)" + (rate > 0 ? ", rateLimit: \(rate)}" : "}")
        }.joined(separator: "\n")
        let yaml = """
            amqp:
              url: \(amqpURL)
              heartbeat: 5s
            topology:
              commandsExchange: \(prefix).commands
              commandsQueue: \(prefix).commands
              resultsExchange: \(prefix).results
              deadLetterExchange: \(prefix).dead
              deadLetterQueue: \(prefix).dead
            oifde:
              baseURL: \(simulator.baseURL)
              timeout: 30s
              auth:
                mode: token
                tenants:
            \(tenantLines)
            dedupe:
              path: \(directory)/completions.journal
            shutdown:
              drainTimeout: 5s
            retry:
              initialBackoff: 50ms
              maxBackoff: 500ms
            log:
              format: \(logFormat)
            admin:
              listen: 127.0.0.1:\(adminPort)

            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)

        var configuration = try AMQPConfiguration(url: amqpURL)
        configuration.connectionName = "e2e-tap-\(prefix)"
        connection = try await AMQPConnection.connect(configuration)
        channel = try await connection.openChannel(publisherConfirms: true)
        // The tap exists before the gateway publishes anything, so no result is missed.
        try await channel.declareExchange(prefix + ".results", type: .topic)
        let tap = prefix + ".results-tap"
        try await channel.declareQueue(tap, durable: false, exclusive: true, autoDelete: true)
        try await channel.bindQueue(tap, exchange: prefix + ".results", routingKey: "#")
        results = try await channel.consume(queue: tap)
        try await prepare?(channel, prefix)
        gateway = try ChildProcess(
            arguments: ["run", "--config", configPath], environment: self.environment, outputPath: directory + "/gateway-0.log")
        launches = 1
        // Messages wait in the tap queue until this starts, so none is missed.
        let consumer = results
        let tapChannel = channel
        let buffer = resultBuffer
        resultReader = Task {
            do {
                for try await delivery in consumer {
                    try? tapChannel.ack(delivery)
                    buffer.withLock {
                        $0.bodies.append(delivery.body)
                        $0.seen.append(delivery)
                    }
                }
            } catch {}
            buffer.withLock { $0.ended = true }
        }
        guard waitUntilConsuming else { return }
        guard await gateway.waitForOutput("consuming") else {
            throw HarnessError("gateway did not start: \(gateway.output)")
        }
    }

    /// Starts the gateway again with the same configuration (after a kill or a stop).
    /// Starts the gateway again, with `overrides` on top of its environment (a new replica count).
    func restart(overriding overrides: [String: String] = [:]) async throws {
        gateway = try ChildProcess(
            arguments: ["run", "--config", configPath], environment: environment.merging(overrides) { $1 },
            outputPath: directory + "/gateway-\(launches).log")
        launches += 1
        guard await gateway.waitForOutput("consuming") else { throw HarnessError("gateway did not restart: \(gateway.output)") }
    }

    var allLogs: String {
        (0..<launches).compactMap { try? String(contentsOfFile: directory + "/gateway-\($0).log", encoding: .utf8) }.joined()
            + simulator.child.output
    }

    @discardableResult
    func publish(
        _ body: String, messageId: String? = UUID().uuidString, correlationId: String? = nil, headers: FieldTable? = nil,
        timestamp: UInt64? = UInt64(Date().timeIntervalSince1970)
    ) async throws -> String? {
        let properties = MessageProperties(
            contentType: "application/json", headers: headers, deliveryMode: .persistent, correlationId: correlationId,
            messageId: messageId, timestamp: timestamp
        )
        let outcome = try await channel.publishAndConfirm(Array(body.utf8), exchange: commandsExchange, routingKey: "change", properties: properties)
        guard outcome == .acked else { throw HarnessError("publish was \(outcome)") }
        return messageId
    }

    /// Publishes every (body, messageId) pipelined, in order, then waits for all confirms: a
    /// sequential publish-and-wait would pace the test slower than the gateway works.
    /// - Parameter callKey: the `x-call-key` header for a message (partitioned topologies), or nil.
    func publishAll(
        _ messages: [(body: String, messageId: String)], routingKey: String = "change", callKey: (String) -> String? = { _ in nil }
    ) async throws {
        let timestamp = UInt64(Date().timeIntervalSince1970)
        var confirmations: [PublishConfirmation] = []
        confirmations.reserveCapacity(messages.count)
        for message in messages {
            let properties = MessageProperties(
                contentType: "application/json", headers: callKey(message.messageId).map { ["x-call-key": .string($0)] },
                deliveryMode: .persistent, messageId: message.messageId, timestamp: timestamp
            )
            confirmations.append(
                try channel.publish(Array(message.body.utf8), exchange: commandsExchange, routingKey: routingKey, properties: properties))
        }
        for confirmation in confirmations {
            let outcome = try await confirmation.outcome()
            guard outcome == .acked else { throw HarnessError("publish was \(outcome)") }
        }
    }

    /// The next result events, parsed. Results are read off the tap by one task for the test's
    /// whole life: cancelling a waiting iterator would finish the stream, so a timeout here only
    /// stops waiting and never loses the tap.
    func nextResults(_ count: Int, within seconds: Double = 30) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            let (taken, ended) = resultBuffer.withLock { buffer -> ([[UInt8]]?, Bool) in
                guard buffer.bodies.count >= count else { return (nil, buffer.ended) }
                let taken = Array(buffer.bodies.prefix(count))
                buffer.bodies.removeFirst(count)
                return (taken, buffer.ended)
            }
            if let taken { return taken.compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] } }
            if ended { throw HarnessError("the results tap ended before \(count) results arrived") }
            guard ContinuousClock.now < deadline else {
                let buffered = resultBuffer.withLock { $0.bodies.count }
                throw HarnessError("fewer than \(count) results within \(seconds) s (\(buffered) arrived)\n" + (await diagnosis()))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// What the broker, the gateway and the simulator say, so a failure tells a stuck gateway from
    /// a lost message or a deaf tap. Counts come from `rabbitmqctl`: a passive declare of a quorum
    /// queue answers 0 ready and 0 consumers whenever the queue's leader takes longer than 250 ms
    /// to answer (`rabbit_quorum_queue:stat/2`), which a loaded CI machine does.
    func diagnosis() async -> String {
        let queues =
            (try? await Harness.rabbitmqctl(["list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers"]))
            ?? "rabbitmqctl failed"
        let ours = queues.split(separator: "\n").filter { $0.hasPrefix(prefix) }.joined(separator: "\n")
        let bindings = (try? await Harness.rabbitmqctl(["list_bindings", "source_name", "destination_name", "routing_key"])) ?? ""
        let ourBindings = bindings.split(separator: "\n").filter { $0.hasPrefix(prefix) }.joined(separator: "\n")
        let forwards = (try? await simulator.requests().count).map(String.init(describing:)) ?? "unknown"
        let gatewayLogs = (0..<launches).compactMap { try? String(contentsOfFile: directory + "/gateway-\($0).log", encoding: .utf8) }.joined()
        let gatewayLog = gatewayLogs.split(separator: "\n").suffix(30).joined(separator: "\n")
        let simulatorLog = simulator.child.output.split(separator: "\n").suffix(10).joined(separator: "\n")
        return """
            queues (name ready unacked consumers):
            \(ours)
            bindings:
            \(ourBindings)
            requests the simulator saw: \(forwards); gateway running: \(gateway.process.isRunning)
            the gateway's last log lines:
            \(gatewayLog)
            the simulator's:
            \(simulatorLog)
            """
    }

    /// Runs an operator command (`validate`, `publish`, `dead-letters`, `topology`) with this
    /// test's configuration; returns its exit status and everything it printed.
    func tool(_ arguments: [String], environment: [String: String] = [:], standardInput: String = "/dev/null") async throws -> (
        status: Int32, output: String
    ) {
        try await Subprocess.run(
            Harness.binary, arguments + ["--config", configPath], environment: environment, mergeErrors: true, standardInput: standardInput
        )
    }

    /// GET on the admin listener: status and body (status 0 when nothing answers).
    func admin(_ path: String) async -> (status: Int, body: String) {
        guard let url = URL(string: "http://127.0.0.1:\(adminPort)\(path)"),
            let (data, response) = try? await URLSession.shared.data(from: url)
        else { return (0, "") }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// The open dead letters (not replayed or purged), read from the dead-letter stream the way
    /// the operator tools read them: nothing changes.
    func openDeadLetters() async throws -> [Delivery] {
        let tools = DeadLetterTools(context: OperatorContext(configuration: try configuration()), filter: DeadLetterFilter())
        return try await tools.openDeliveries().map(\.delivery)
    }

    /// The open dead letters this test has not drained before (reading changes nothing: the
    /// stream keeps them, a cursor here moves past them).
    func drainDeadLetters() async throws -> [Delivery] {
        let tools = DeadLetterTools(context: OperatorContext(configuration: try configuration()), filter: DeadLetterFilter())
        let open = try await tools.openDeliveries()
        let fresh = deadLetterCursor.withLock { cursor in
            let fresh = open.filter { $0.offset > cursor }
            cursor = max(cursor, open.map(\.offset).max() ?? cursor)
            return fresh
        }
        return fresh.map(\.delivery)
    }

    /// How many open dead letters there are, read until it equals `expected` or 20 s pass.
    func openDeadLetterCount(expecting expected: Int) async throws -> Int {
        let end = ContinuousClock.now + .seconds(20)
        var count = try await openDeadLetters().count
        while count != expected, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(200))
            count = try await openDeadLetters().count
        }
        return count
    }

    /// Dead letters taken off the queue until `count` have come (they are published with the
    /// result event, whose confirm can come first) or `seconds` pass.
    func drainDeadLetters(expecting count: Int, within seconds: Double = 10) async throws -> [Delivery] {
        var letters: [Delivery] = []
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            letters += try await drainDeadLetters()
            if letters.count >= count || ContinuousClock.now >= end { return letters }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func commandsQueueDepth() async throws -> UInt32 { try await queueDepth(prefix + ".commands") }

    /// Messages ready in `queue`.
    func queueDepth(_ queue: String) async throws -> UInt32 {
        let reader = try await connection.openChannel()
        let info = try await reader.checkQueue(queue)
        try? await reader.close()
        return info.messageCount
    }

    /// Every result event this test received must match `docs/schemas/result-event.schema.json`.
    func checkResultSchema() async {
        // CloudEvents envelopes are checked by their own test (their `data` is the native event).
        let seen = resultBuffer.withLock { $0.seen }.map(\.body).filter { !$0.starts(with: Array(#"{"specversion""#.utf8)) }
        guard !seen.isEmpty else { return }
        let path = directory + "/results-seen.jsonl"
        _ = FileManager.default.createFile(atPath: path, contents: Data(seen.map { $0 + [0x0A] }.joined()))
        guard
            let run = try? await Subprocess.run(
                "/usr/bin/python3",
                [Harness.packageRoot + "/deploy/schemas/validate.py", Harness.packageRoot + "/docs/schemas/result-event.schema.json", path],
                mergeErrors: true)
        else {
            Issue.record("could not run the schema check")
            return
        }
        let lines = run.output.split(separator: "\n")
        let bad = zip(seen, lines).filter { $0.1 != "valid" }.map { String(decoding: $0.0, as: UTF8.self) + " → " + $0.1 }
        if run.status != 0 || lines.count != seen.count || !bad.isEmpty {
            Issue.record(
                "result events that do not match the schema (\(bad.count) of \(seen.count)):\n\(bad.prefix(3).joined(separator: "\n"))\n\(run.output.prefix(300))"
            )
        }
    }

    /// Every result event the tap has seen so far, as delivered.
    var seenResults: [Delivery] { resultBuffer.withLock { $0.seen } }

    func stop() async {
        await checkResultSchema()
        await gateway.stop()
        await simulator.child.stop()
        let cleanup = try? await connection.openChannel()
        // Partition queues and exchanges too, when the test used topology.partitions.
        let partitions = (0..<8).map { prefix + ".commands.p\($0)" }
        for queue in [prefix + ".commands", prefix + ".dead"] + partitions { _ = try? await cleanup?.deleteQueue(queue) }
        for exchange in ["commands", "results", "dead", "commands.partitioned", "commands.unkeyed"] {
            try? await cleanup?.deleteExchange(prefix + "." + exchange)
        }
        await connection.close()
        resultReader?.cancel()
    }
}

/// Runs `body` with a fresh gateway, simulator and topology, and always stops them.
func withGateway(
    environment: [String: String] = [:], simulatorArguments: [String] = [], logFormat: String = "json",
    amqpURL: String = Harness.amqpURL, prepare: ((AMQPChannel, String) async throws -> Void)? = nil, waitUntilConsuming: Bool = true,
    tenants: [String: Double] = ["t1": 0], _ body: (GatewayUnderTest) async throws -> Void
) async throws {
    let gut = try await GatewayUnderTest(
        environment: environment, simulatorArguments: simulatorArguments, logFormat: logFormat, amqpURL: amqpURL, prepare: prepare,
        waitUntilConsuming: waitUntilConsuming, tenants: tenants
    )
    do {
        try await body(gut)
    } catch {
        await gut.stop()
        throw error
    }
    await gut.stop()
}
