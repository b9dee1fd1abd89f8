import AMQP
import Foundation
import Testing

/// A broker restart mid-stream, on a private node so the other suites' broker is untouched.
@Suite(.timeLimit(.minutes(10))) struct BrokerRestartTests {
    static func script(_ arguments: [String], port: Int, environment: [String: String] = [:]) async throws -> String {
        let (status, output) = try await Subprocess.run(
            "/bin/bash", [Harness.packageRoot + "/deploy/local/broker.sh"] + arguments,
            environment: environment.merging(["WMG_BROKER_PORT": String(port)]) { $1 },
            mergeErrors: true
        )
        guard status == 0 else { throw HarnessError("broker.sh \(arguments) failed with status \(status): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func gatewayRecoversFromABrokerRestart() async throws {
        let port = Harness.freeBrokerPort()
        _ = try await Self.script(["fresh"], port: port)
        do {
            try await Self.restartScenario(port: port)
        } catch {
            _ = try? await Self.script(["stop"], port: port)
            throw error
        }
        _ = try await Self.script(["stop"], port: port)
    }

    static func restartScenario(port: Int) async throws {
        let url = try await Self.script(["url"], port: port)
        try await withGateway(amqpURL: url) { gut in
            // A durable tap: it keeps the results that arrive while the tap's own connection is down.
            let durableTap = gut.prefix + ".results-durable"
            try await gut.channel.declareQueue(durableTap, durable: true, arguments: ["x-queue-type": .string("quorum")])
            try await gut.channel.bindQueue(durableTap, exchange: gut.prefix + ".results", routingKey: "#")
            for index in 0..<100 { try await gut.publish(ResilienceTests.commandBody(call: "r-\(index)", mode: 1), messageId: "r-\(index)") }
            // The application restarts inside the node: connections drop, durable data stays.
            _ = try await Self.script(["ctl", "stop_app"], port: port)
            // Down until the gateway has seen it, however slow the machine.
            try await FaultProbeTests.waitFor("the gateway to see the broker gone", timeout: .seconds(30)) {
                await gut.admin("/health/ready").status == 503
            }
            _ = try await Self.script(["ctl", "start_app"], port: port)
            var configuration = try AMQPConfiguration(url: url)
            configuration.connectionName = "restart-check"
            var ids = Set<String>()
            let deadline = ContinuousClock.now + .seconds(90)
            while ids.count < 100, ContinuousClock.now < deadline {
                try await Task.sleep(for: .seconds(1))
                guard let connection = try? await AMQPConnection.connect(configuration) else { continue }
                let reader = try await connection.openChannel()
                while let delivery = try await reader.get(queue: durableTap) {
                    if let object = try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any],
                        let id = object["commandId"] as? String
                    {
                        ids.insert(id)
                    }
                    try reader.ack(delivery)
                }
                await connection.close()
            }
            #expect(ids.count == 100)
            #expect(gut.gateway.process.isRunning)
        }
    }
}
