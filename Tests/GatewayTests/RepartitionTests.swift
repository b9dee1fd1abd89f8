import AMQP
import Foundation
import Testing

/// `topology repartition` (docs/deploy.md, "Changing the partition count"): from 4 partitions to
/// 2 with commands waiting in every old partition, none stranded, each call's order kept.
@Suite(.timeLimit(.minutes(10))) struct RepartitionTests {
    @Test func fourPartitionsBecomeTwoWithEveryWaitingCommandMovedInOrder() async throws {
        try await withGateway(environment: ReplicaOwnershipTests.partitioned) { gut in
            let two = ["WMG_TOPOLOGY_PARTITIONS": "2"]
            // A replica is consuming: refused, and nothing changes.
            let refused = try await gut.tool(["topology", "repartition"], environment: two)
            #expect(refused.status == 1 && refused.output.contains("stop every replica first"), "\(refused.output)")
            #expect(try await gut.queueDepth(gut.prefix + ".commands.p3") == 0)

            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(30)) == 0)
            let calls = 20
            let keyed = CallOrder.commands(prefix: "repart", calls: calls, perCall: 3)
            let unkeyed = (0..<5).map { (ResilienceTests.commandBody(call: "repart-unkeyed-\($0)", mode: 2), "repart-unkeyed-\($0)") }
            try await gut.publishAll(keyed + unkeyed) { id in
                id.contains("unkeyed") ? nil : "t1/" + id.split(separator: "-").prefix(2).joined(separator: "-")
            }
            // Confirmed is enqueued, but a quorum queue's count in declare-ok can trail it (once
            // [15, 29, 0, 6] right after the confirms on a loaded machine): polled, with a deadline.
            var waiting: [UInt32] = []
            let countedBy = ContinuousClock.now + .seconds(20)
            repeat {
                waiting = []
                for index in 0..<4 { waiting.append(try await gut.queueDepth(gut.prefix + ".commands.p\(index)")) }
                if waiting.reduce(0, +) == 65 { break }
                try await Task.sleep(for: .milliseconds(100))
            } while ContinuousClock.now < countedBy
            #expect(waiting.allSatisfy { $0 > 0 } && waiting.reduce(0, +) == 65, "every old partition holds commands: \(waiting)")

            let run = try await gut.tool(["topology", "repartition", "--json"], environment: two)
            #expect(run.status == 0, "\(run.output)")
            let report = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
            #expect(report?["from"] as? Int == 4 && report?["to"] as? Int == 2 && report?["moved"] as? Int == 65, "\(run.output)")
            let check = try await gut.tool(["topology", "check"], environment: two)
            #expect(check.status == 0, "the topology is the 2-partition one: \(check.output)")
            let checkFour = try await gut.tool(["topology", "check"], environment: ReplicaOwnershipTests.partitioned)
            #expect(checkFour.status != 0, "p2 and p3 are gone")
            let again = try await gut.tool(["topology", "repartition"], environment: two)
            #expect(again.status == 0 && again.output.contains("nothing to do"), "\(again.output)")

            // A gateway on two partitions serves every command, each call in order.
            try await gut.restart(overriding: two.merging(["WMG_REPLICAS_COUNT": "1"]) { $1 })
            let results = try await gut.nextResults(65, within: 90)
            let ids = Set(results.compactMap { $0["commandId"] as? String })
            #expect(ids.count == 65 && results.allSatisfy { $0["status"] as? String == "succeeded" })
            try await CallOrder.expectKept(gut, prefix: "repart", calls: calls, perCall: 3)
            // A repartitioned command keeps its routing key: its dead letter would replay to the live queue.
            #expect(!gut.gateway.output.contains("repartition-moved"), "no command names the holding queue")
        }
    }

    /// A run that stopped after commands were held is finished by the next one: what waited in the
    /// holding queue reaches the partitions, and the holding queues go.
    @Test func aStoppedRunIsFinishedByTheNext() async throws {
        try await withGateway(environment: ReplicaOwnershipTests.partitioned) { gut in
            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(30)) == 0)
            // As an earlier run left it: commands published meanwhile wait in the incoming queue.
            let incoming = gut.prefix + ".commands.repartition-incoming"
            try await gut.channel.declareQueue(incoming, durable: true, arguments: ["x-queue-type": .string("quorum")])
            let publisher = try await gut.connection.openChannel(publisherConfirms: true)
            for step in 0..<3 {
                let properties = MessageProperties(
                    contentType: "application/json", headers: ["x-call-key": .string("t1/held-0")], deliveryMode: .persistent,
                    messageId: "held-0-\(step)")
                let body = Array(ResilienceTests.commandBody(call: "held-0", mode: step % 2 == 0 ? 2 : 1).utf8)
                #expect(try await publisher.publishAndConfirm(body, exchange: "", routingKey: incoming, properties: properties) == .acked)
            }
            let run = try await gut.tool(["topology", "repartition", "--json"], environment: ReplicaOwnershipTests.partitioned)
            #expect(run.status == 0, "\(run.output)")
            let report = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
            #expect(report?["incoming"] as? Int == 3 && report?["changed"] as? Bool == true, "\(run.output)")
            try await gut.restart()
            let results = try await gut.nextResults(3, within: 60)
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" })
            try await CallOrder.expectKept(gut, prefix: "held", calls: 1, perCall: 3)
            let gone = try await gut.tool(["topology", "repartition"], environment: ReplicaOwnershipTests.partitioned)
            #expect(gone.output.contains("nothing to do"), "the holding queues are gone: \(gone.output)")
        }
    }
}
