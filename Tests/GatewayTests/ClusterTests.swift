import AMQP
import Foundation
import GatewayConfig
import Testing

/// The gateway on a three-node RabbitMQ cluster (`deploy/local/cluster.sh`): losing the node it
/// is connected to, or the node that leads the commands queue, during 2,000 commands loses
/// nothing and keeps each call's order. Each run prints its failover gap (last result before the
/// kill, first after).
@Suite(.timeLimit(.minutes(10)), .serialized) struct ClusterTests {
    static func cluster(_ arguments: [String]) async throws -> String {
        let (status, output) = try await Subprocess.run(
            "/bin/bash", [Harness.packageRoot + "/deploy/local/cluster.sh"] + arguments, environment: ["WMG_CLUSTER_PORT": "5681"],
            mergeErrors: true)
        guard status == 0 else { throw HarnessError("cluster.sh \(arguments) failed with status \(status): \(output)") }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func nodeURL(_ node: Int) -> String { "amqp://guest:guest@127.0.0.1:\(5680 + node)/%2f" }

    /// The gateway connects to the first node of `gatewayNodes`; the test's tap and publisher use
    /// `tapNode`, which is never killed; the commands queue is declared through `leaderNode`, so
    /// its quorum leader starts there.
    static func failover(killing killed: Int, gatewayNodes: [Int], tapNode: Int, leaderNode: Int, label: String) async throws {
        _ = try await cluster(["start"])
        do {
            let addresses = gatewayNodes.map { "127.0.0.1:\(5680 + $0)" }.joined(separator: ",")
            let environment = [
                "WMG_AMQP_URL": "amqp://guest:guest@\(addresses)/%2f", "WMG_AMQP_HEARTBEAT": "2s", "WMG_PIPELINE_MAXINFLIGHT": "32",
            ]
            let declareOnLeader: (AMQPChannel, String) async throws -> Void = { _, prefix in
                let connection = try await AMQPConnection.connect(AMQPConfiguration(url: nodeURL(leaderNode)))
                var configuration = GatewayConfiguration()
                configuration.topology.commandsExchange = prefix + ".commands"
                configuration.topology.commandsQueue = prefix + ".commands"
                configuration.topology.resultsExchange = prefix + ".results"
                configuration.topology.deadLetterExchange = prefix + ".dead"
                configuration.topology.deadLetterQueue = prefix + ".dead"
                try await Topology(configuration.topology).declare(on: connection)
                await connection.close()
            }
            try await withGateway(environment: environment, amqpURL: nodeURL(tapNode), prepare: declareOnLeader) { gut in
                #expect(try await cluster(["leader", gut.prefix + ".commands"]) == "\(leaderNode)")
                try await run(gut, killing: killed, label: label)
            }
        } catch {
            _ = try? await cluster(["stop"])
            throw error
        }
        _ = try await cluster(["stop"])
    }

    static func run(_ gut: GatewayUnderTest, killing killed: Int, label: String) async throws {
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":5,"latencyJitterMs":5,"fraction":1.0}"#)
        let calls = 50
        let perCall = 40
        let messages = CallOrder.commands(prefix: "cl", calls: calls, perCall: perCall)
        try await gut.publishAll(messages)
        var seen: [String: [[String: Any]]] = [:]
        var lastBefore = ContinuousClock.now
        while seen.count < messages.count / 4 {
            for result in try await gut.nextResults(1, within: 60) { seen[result["commandId"] as? String ?? "", default: []].append(result) }
            lastBefore = ContinuousClock.now
        }
        _ = try await cluster(["kill-node", "\(killed)"])
        let killedAt = ContinuousClock.now
        var firstAfter: ContinuousClock.Instant?
        // Commands prefetched before the kill may still finish on the old session; the longest
        // silence between two new results after the kill is the outage the platform sees.
        var longestSilence = Duration.zero
        var lastNew = lastBefore
        while seen.count < messages.count {
            for result in try await gut.nextResults(1, within: 120) {
                let id = result["commandId"] as? String ?? ""
                if seen[id] == nil {
                    let now = ContinuousClock.now
                    if firstAfter == nil, now > killedAt { firstAfter = now }
                    longestSilence = max(longestSilence, now - lastNew)
                    lastNew = now
                }
                seen[id, default: []].append(result)
            }
        }
        #expect(seen.count == messages.count, "nothing lost")
        #expect(seen.values.allSatisfy { $0.contains { $0["status"] as? String == "succeeded" } })
        try await CallOrder.expectKept(gut, prefix: "cl", calls: calls, perCall: perCall)
        let gap = (firstAfter ?? ContinuousClock.now) - lastBefore
        print(
            "cluster failover (\(label)): \(gap) from the last result before the kill to the first after; longest silence after it \(longestSilence)"
        )
        #expect(longestSilence < .seconds(10), "recovery within 10 s")
    }

    @Test func losingTheNodeTheGatewayIsConnectedToLosesNothing() async throws {
        // Connected to node 1; the queue's leader and the tap on node 3.
        try await Self.failover(killing: 1, gatewayNodes: [1, 2, 3], tapNode: 3, leaderNode: 3, label: "connected node killed")
    }

    @Test func losingTheCommandsQueuesLeaderLosesNothing() async throws {
        // The leader on node 1; the gateway connected to node 2, the tap on node 3.
        try await Self.failover(killing: 1, gatewayNodes: [2, 3, 1], tapNode: 3, leaderNode: 1, label: "queue leader killed")
    }
}
