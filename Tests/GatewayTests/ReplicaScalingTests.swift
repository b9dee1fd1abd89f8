import Foundation
import Synchronization
import Testing

/// Replica changes with commands flowing (docs/deploy.md, "Rollouts, scaling and the partition
/// count"): a second replica with a taken ordinal, a scale from 2 to 3 to 2 replicas done as a
/// StatefulSet does it, and a kill -9 while a returning owner takes its partitions back. In each,
/// every command ends once and each call's commands reach OIFDE in order.
@Suite(.timeLimit(.minutes(10)), .serialized) struct ReplicaScalingTests {
    static let partitioned = ReplicaOwnershipTests.partitioned.merging(["WMG_PIPELINE_MAXINFLIGHT": "16"]) { $1 }

    /// Publishes one command per call every `pause` until `stop` is set, between rounds, so that
    /// every round published is whole; the task returns the rounds published. Message IDs follow
    /// ``CallOrder``: `<prefix>-<call>-<round>`.
    static func flow(
        _ gut: GatewayUnderTest, prefix: String, calls: Int, pause: Duration = .milliseconds(150), stop: StopFlag
    ) -> Task<Int, any Error> {
        Task {
            var round = 0
            while !stop.isSet {
                let messages = (0..<calls).map { call in
                    (ResilienceTests.commandBody(call: "\(prefix)-\(call)", mode: round % 2 == 0 ? 2 : 1), "\(prefix)-\(call)-\(round)")
                }
                try await gut.publishAll(messages) { id in "t1/" + id.split(separator: "-").prefix(2).joined(separator: "-") }
                round += 1
                try await Task.sleep(for: pause)
            }
            return round
        }
    }

    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }

    /// Waits for `count` more distinct results, adding them to `seen`.
    static func collect(_ gut: GatewayUnderTest, into seen: inout [String: String], until count: Int, within seconds: Double = 120) async throws {
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while seen.count < count {
            guard ContinuousClock.now < end else { throw HarnessError("\(seen.count) of \(count) results") }
            for result in try await gut.nextResults(1, within: seconds) {
                seen[result["commandId"] as? String ?? "", default: result["status"] as? String ?? "?"] = result["status"] as? String ?? "?"
            }
        }
    }

    /// The consumers on each partition queue, from the broker.
    static func partitionConsumers(_ gut: GatewayUnderTest) async throws -> [String: Int] {
        let listing = try await Harness.rabbitmqctl(["list_queues", "-q", "name", "consumers"])
        var consumers: [String: Int] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count == 2, fields[0].hasPrefix(gut.prefix + ".commands.p"), let count = Int(fields[1]) else { continue }
            consumers[String(fields[0].dropFirst((gut.prefix + ".commands.").count))] = count
        }
        return consumers
    }

    @Test func aSecondReplicaWithATakenOrdinalStandsByAndServesWhenTheFirstIsGone() async throws {
        try await withGateway(environment: Self.partitioned) { gut in
            let twin = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "0"], name: "twin")
            defer { twin.signal(SIGKILL) }
            #expect(await twin.waitForOutput("is held by another live replica"), "\(twin.output)")
            #expect(await twin.waitForOutput("consuming"), "\(twin.output)")
            let refusals = twin.output.split(separator: "\n").filter { $0.contains("replicas.ordinal 0 is held by another live replica") }
            #expect(refusals.count == 1, "said once: \(twin.output)")
            // The first keeps its partitions: it subscribed to them as their owner.
            #expect(gut.gateway.output.contains(#""queue":"\#(gut.prefix).commands.p0,\#(gut.prefix).commands.p2"#))
            #expect(!twin.output.contains(#""queue":"\#(gut.prefix).commands.p0,\#(gut.prefix).commands.p2"#), "the twin does not own them")
            // The first goes; the twin, a standby on every partition, serves all of them.
            gut.gateway.signal(SIGKILL)
            _ = await gut.gateway.waitForExit(timeout: .seconds(10))
            try await gut.publishAll(CallOrder.commands(prefix: "twin", calls: 16, perCall: 2)) { id in
                "t1/" + id.split(separator: "-").prefix(2).joined(separator: "-")
            }
            let results = try await gut.nextResults(32, within: 90)
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" })
            // A result can reach the test before the twin's log line about it has been read.
            var twinHandled = 0
            let logged = ContinuousClock.now + .seconds(20)
            repeat {
                twinHandled = twin.output.components(separatedBy: #""status":"succeeded""#).count - 1
                if twinHandled < 32 { try await Task.sleep(for: .milliseconds(50)) }
            } while twinHandled < 32 && ContinuousClock.now < logged
            #expect(twinHandled == 32, "the twin handled \(twinHandled) of 32")
            try await CallOrder.expectKept(gut, prefix: "twin", calls: 16, perCall: 2)
        }
    }

    /// 2 → 3 → 2 replicas as a StatefulSet does it: the new count goes to every pod (a ConfigMap),
    /// pods restart one at a time, the third pod starts or goes. Commands flow throughout.
    @Test func scalingTwoToThreeToTwoLosesNothingAndKeepsCallOrder() async throws {
        try await withGateway(environment: Self.partitioned) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":5,"latencyJitterMs":10,"fraction":1.0}"#)
            var one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1-count2")
            defer { one.signal(SIGKILL) }
            #expect(await one.waitForOutput("standby for the other replicas' partitions"), "\(one.output)")
            let calls = 24
            let stop = StopFlag()
            let flowing = Self.flow(gut, prefix: "scale", calls: calls, stop: stop)
            var seen: [String: String] = [:]
            try await Self.collect(gut, into: &seen, until: calls * 3)

            // Up: the third pod starts with count 3, then the others restart with it, one at a time.
            let three = ["WMG_REPLICAS_COUNT": "3"]
            let two = try ReplicaOwnershipTests.replica(gut, three.merging(["WMG_REPLICAS_ORDINAL": "2"]) { $1 }, name: "r2-count3")
            defer { two.signal(SIGKILL) }
            #expect(await two.waitForOutput("consuming"), "\(two.output)")
            one.signal(SIGTERM)
            #expect(await one.waitForExit(timeout: .seconds(60)) == 0)
            one = try ReplicaOwnershipTests.replica(gut, three.merging(["WMG_REPLICAS_ORDINAL": "1"]) { $1 }, name: "r1-count3")
            #expect(await one.waitForOutput("consuming"), "\(one.output)")
            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(60)) == 0)
            try await gut.restart(overriding: three)
            try await Self.collect(gut, into: &seen, until: seen.count + calls * 3)
            #expect(two.output.contains(#""queue":"\#(gut.prefix).commands.p2"#), "the third replica owns p2: \(two.output.suffix(1500))")

            // Down: every pod gets count 2 again; the third goes first, as a scale-down removes the
            // highest ordinal.
            two.signal(SIGTERM)
            #expect(await two.waitForExit(timeout: .seconds(60)) == 0)
            one.signal(SIGTERM)
            #expect(await one.waitForExit(timeout: .seconds(60)) == 0)
            one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1-count2-again")
            #expect(await one.waitForOutput("consuming"), "\(one.output)")
            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(60)) == 0)
            try await gut.restart()
            try await Self.collect(gut, into: &seen, until: seen.count + calls * 3)

            stop.set()
            let rounds = try await flowing.value
            try await Self.collect(gut, into: &seen, until: rounds * calls)
            #expect(seen.count == rounds * calls, "nothing lost: \(seen.count) results for \(rounds * calls) commands")
            #expect(seen.values.allSatisfy { $0 == "succeeded" }, "\(Set(seen.values))")
            try await CallOrder.expectKept(gut, prefix: "scale", calls: calls, perCall: rounds)
            // Each replica subscribes to the others' partitions after its standby delay.
            var consumers: [String: Int] = [:]
            let subscribed = ContinuousClock.now + .seconds(30)
            repeat {
                consumers = try await Self.partitionConsumers(gut)
                if consumers.count == 4, consumers.values.allSatisfy({ $0 == 2 }) { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < subscribed
            #expect(consumers.count == 4 && consumers.values.allSatisfy { $0 == 2 }, "two replicas on every partition: \(consumers)")
            print("scaling 2 → 3 → 2: \(rounds * calls) commands over \(rounds) rounds, all ended once, call order kept")
        }
    }

    /// A returning owner takes its partitions back (RabbitMQ 4.x: the broker lets the standby
    /// settle what it holds first); the standby is killed in that moment. Its unsettled commands
    /// go back to the queue in order and nothing is lost or reordered.
    @Test func aKillDuringAHandBackLosesNothingAndKeepsCallOrder() async throws {
        try await withGateway(environment: Self.partitioned) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":20,"latencyJitterMs":20,"fraction":1.0}"#)
            var one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1")
            defer { one.signal(SIGKILL) }
            #expect(await one.waitForOutput("standby for the other replicas' partitions"), "\(one.output)")
            let calls = 24
            let stop = StopFlag()
            let flowing = Self.flow(gut, prefix: "handback", calls: calls, pause: .milliseconds(50), stop: stop)
            var seen: [String: String] = [:]
            try await Self.collect(gut, into: &seen, until: calls * 3)
            // Replica 1 goes; replica 0 stands in on p1 and p3 and works on them.
            one.signal(SIGTERM)
            #expect(await one.waitForExit(timeout: .seconds(60)) == 0)
            try await Self.collect(gut, into: &seen, until: seen.count + calls * 3)
            // The owner returns, and replica 0, which holds p1 and p3's commands, dies as it does.
            one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1-back")
            #expect(await one.waitForOutput("consuming"), "\(one.output)")
            gut.gateway.signal(SIGKILL)
            _ = await gut.gateway.waitForExit(timeout: .seconds(10))
            try await Self.collect(gut, into: &seen, until: seen.count + calls * 2)
            try await gut.restart()
            try await Self.collect(gut, into: &seen, until: seen.count + calls * 3)

            stop.set()
            let rounds = try await flowing.value
            try await Self.collect(gut, into: &seen, until: rounds * calls)
            #expect(seen.count == rounds * calls, "nothing lost: \(seen.count) results for \(rounds * calls) commands")
            #expect(seen.values.allSatisfy { $0 == "succeeded" }, "\(Set(seen.values))")
            try await CallOrder.expectKept(gut, prefix: "handback", calls: calls, perCall: rounds)
        }
    }

    /// A rolling restart, twice, with commands flowing: replica 1 restarts, then replica 0, as a
    /// StatefulSet does it. After each restart the returned replica serves its own partitions
    /// again within standbyDelay + 10 s, nothing is lost, and each call's commands reach OIFDE in
    /// order across every hand-over.
    @Test func twoRollingRestartsLeaveBothReplicasServingAndKeepCallOrder() async throws {
        try await withGateway(environment: Self.partitioned) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":5,"latencyJitterMs":10,"fraction":1.0}"#)
            var one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1")
            defer { one.signal(SIGKILL) }
            #expect(await one.waitForOutput("standby for the other replicas' partitions"), "\(one.output)")
            let calls = 24
            let stop = StopFlag()
            let flowing = Self.flow(gut, prefix: "rollout", calls: calls, stop: stop)
            var seen: [String: String] = [:]
            try await Self.collect(gut, into: &seen, until: calls * 3)
            func handled(_ log: String) -> Int { log.components(separatedBy: #""status":"succeeded""#).count - 1 }
            let bound = Duration.seconds(12)  // standbyDelay (2 s) + 10 s
            var backAfter: [Duration] = []
            for round in 0..<2 {
                // Replica 1 restarts.
                one.signal(SIGTERM)
                #expect(await one.waitForExit(timeout: .seconds(60)) == 0)
                one = try ReplicaOwnershipTests.replica(gut, ["WMG_REPLICAS_ORDINAL": "1"], name: "r1-round\(round)")
                #expect(await one.waitForOutput("consuming"), "\(one.output)")
                let oneBack = ContinuousClock.now
                while handled(one.output) == 0, ContinuousClock.now - oneBack < bound + .seconds(20) {
                    try await Self.collect(gut, into: &seen, until: seen.count + calls)
                }
                backAfter.append(ContinuousClock.now - oneBack)
                // Replica 0 restarts.
                gut.gateway.signal(SIGTERM)
                #expect(await gut.gateway.waitForExit(timeout: .seconds(60)) == 0)
                try await gut.restart()
                let zeroBack = ContinuousClock.now
                while handled(gut.gateway.output) == 0, ContinuousClock.now - zeroBack < bound + .seconds(20) {
                    try await Self.collect(gut, into: &seen, until: seen.count + calls)
                }
                backAfter.append(ContinuousClock.now - zeroBack)
            }
            stop.set()
            let rounds = try await flowing.value
            try await Self.collect(gut, into: &seen, until: rounds * calls)
            #expect(seen.count == rounds * calls, "nothing lost: \(seen.count) results for \(rounds * calls) commands")
            #expect(seen.values.allSatisfy { $0 == "succeeded" }, "\(Set(seen.values))")
            try await CallOrder.expectKept(gut, prefix: "rollout", calls: calls, perCall: rounds)
            // Both serve once more: each handled its share of the last commands.
            #expect(handled(one.output) > 0 && handled(gut.gateway.output) > 0)
            #expect(backAfter.allSatisfy { $0 <= bound }, "each returned replica served again within \(bound): \(backAfter)")
            print("rolling restarts: each returned replica served again after \(backAfter); \(rounds * calls) commands in order")
        }
    }
}
