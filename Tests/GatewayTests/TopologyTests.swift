import AMQP
import Foundation
import Testing

/// docs/contract.md section 7: a commands queue that exists with other arguments is refused in one
/// clear line; with `topology.declare: false` the gateway checks passively and uses what is there.
@Suite(.timeLimit(.minutes(10))) struct TopologyTests {
    /// A classic queue where the contract wants a quorum queue with a delivery limit.
    static func declareClassicCommandsQueue(_ channel: AMQPChannel, _ prefix: String) async throws {
        try await channel.declareExchange(prefix + ".commands", type: .direct)
        try await channel.declareQueue(prefix + ".commands", durable: true)
        try await channel.bindQueue(prefix + ".commands", exchange: prefix + ".commands", routingKey: "change")
    }

    /// The classic queue with one command waiting in it, so a test can tell that nothing consumed it.
    static func classicCommandsQueueWithACommand(_ channel: AMQPChannel, _ prefix: String) async throws {
        try await declareClassicCommandsQueue(channel, prefix)
        let outcome = try await channel.publishAndConfirm(
            Array(#"{"tenantId":"t1","callId":"waiting","agentId":"a1","workMode":"1"}"#.utf8), exchange: prefix + ".commands", routingKey: "change"
        )
        #expect(outcome == .acked)
    }

    @Test func aQueueWithOtherArgumentsIsRefusedInOneLine() async throws {
        try await withGateway(prepare: Self.classicCommandsQueueWithACommand, waitUntilConsuming: false) { gut in
            let status = await gut.gateway.waitForExit(timeout: .seconds(30))
            #expect(status == 1, "\(gut.gateway.output)")
            let refusals = gut.gateway.output.split(separator: "\n").filter { $0.contains("exists with other arguments") }
            #expect(refusals.count == 1, "\(gut.gateway.output)")
            #expect(refusals.first?.contains("\(gut.prefix).commands") == true)
            #expect(refusals.first?.contains("topology.declare: false") == true, "the line says how to go on")
            // Nothing was changed or consumed: the queue is still the classic one the operator made
            // (a classic queue answers a passive declare at once), with its command still in it.
            let depth = try await gut.commandsQueueDepth()
            #expect(depth == 1)
        }
    }

    @Test func declareFalseChecksPassivelyAndUsesTheExistingQueue() async throws {
        let prepare: (AMQPChannel, String) async throws -> Void = { channel, prefix in
            try await Self.declareClassicCommandsQueue(channel, prefix)
            try await channel.declareExchange(prefix + ".dead", type: .topic)
            try await channel.declareQueue(prefix + ".dead", durable: true)
            try await channel.bindQueue(prefix + ".dead", exchange: prefix + ".dead", routingKey: "#")
        }
        try await withGateway(environment: ["WMG_TOPOLOGY_DECLARE": "false"], prepare: prepare) { gut in
            try await gut.publish(#"{"tenantId":"t1","callId":"classic-1","agentId":"a1","workMode":"1"}"#, messageId: "classic-1")
            let result = try await gut.nextResults(1)
            #expect(result.first?["status"] as? String == "succeeded")
            #expect(result.first?["commandId"] as? String == "classic-1")
        }
    }

    @Test func declareFalseWithAMissingQueueNamesIt() async throws {
        try await withGateway(environment: ["WMG_TOPOLOGY_DECLARE": "false"], waitUntilConsuming: false) { gut in
            let status = await gut.gateway.waitForExit(timeout: .seconds(30))
            #expect(status == 1, "\(gut.gateway.output)")
            #expect(gut.gateway.output.contains("\(gut.prefix).commands"), "\(gut.gateway.output)")
        }
    }

    /// A broker without the consistent-hash plugin cannot carry partitions: one line says how to
    /// enable it, and the gateway exits instead of reconnecting forever.
    @Test func partitionsWithoutTheConsistentHashPluginAreRefusedInOneLine() async throws {
        let port = Harness.freeBrokerPort()
        _ = try await BrokerRestartTests.script(["fresh"], port: port, environment: ["WMG_BROKER_PLUGINS": ""])
        do {
            let url = try await BrokerRestartTests.script(["url"], port: port)
            try await withGateway(environment: ["WMG_TOPOLOGY_PARTITIONS": "2"], amqpURL: url, waitUntilConsuming: false) { gut in
                let status = await gut.gateway.waitForExit(timeout: .seconds(30))
                #expect(status == 1, "\(gut.gateway.output)")
                let refusals = gut.gateway.output.split(separator: "\n").filter {
                    $0.contains("rabbitmq-plugins enable rabbitmq_consistent_hash_exchange")
                }
                #expect(refusals.count == 1, "\(gut.gateway.output)")
            }
        } catch {
            _ = try? await BrokerRestartTests.script(["stop"], port: port)
            throw error
        }
        _ = try await BrokerRestartTests.script(["stop"], port: port)
    }
}
