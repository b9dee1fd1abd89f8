import AMQP
import Foundation
import Testing

@Suite(.serialized) struct ResilienceTests {
    static func commandBody(call: String, mode: Int) -> String {
        #"{"tenantId":"t1","callId":"\#(call)","agentId":"a1","workMode":"\#(mode)"}"#
    }

    @Test func perCallOrderHoldsWhileCallsRunInParallel() async throws {
        // Random latency per request; 60 calls × 10 alternating commands with maxInFlight 64.
        try await withGateway(environment: ["WMG_PIPELINE_MAXINFLIGHT": "64"]) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":50,"latencyJitterMs":30,"fraction":1.0}"#)
            let calls = 60, perCall = 10
            let started = ContinuousClock.now
            for step in 0..<perCall {
                for call in 0..<calls {
                    try await gut.publish(Self.commandBody(call: "order-\(call)", mode: step % 2 == 0 ? 2 : 1), messageId: "o-\(call)-\(step)")
                }
            }
            let results = try await gut.nextResults(calls * perCall, within: 120)
            let elapsed = ContinuousClock.now - started
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" })
            for call in 0..<calls {
                let data = try await gut.simulator.control("GET", "/simulator/sessions/t1/order-\(call)")
                let session = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                let history = try #require(session["history"] as? [[String: Any]])
                #expect(history.compactMap { $0["commandId"] as? String } == (0..<perCall).map { "o-\(call)-\($0)" })
            }
            // One after another, 600 requests of at least 50 ms each would take 30 s or more; in
            // parallel (64 in flight) they take about a second. Half the serial bound leaves room
            // for a loaded machine without letting a serial pipeline pass.
            #expect(elapsed < .seconds(15), "took \(elapsed)")
        }
    }

    @Test func sigtermDrainsWithinTheTimeoutAndRequeuesTheRest() async throws {
        try await withGateway(environment: ["WMG_SHUTDOWN_DRAINTIMEOUT": "2s", "WMG_PIPELINE_MAXINFLIGHT": "50"]) { gut in
            // Slow OIFDE: 50 finish within the drain, the rest must go back to the queue.
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":1500,"fraction":1.0}"#)
            for index in 0..<100 { try await gut.publish(Self.commandBody(call: "drain-\(index)", mode: 1), messageId: "d-\(index)") }
            try await Task.sleep(for: .milliseconds(500))
            let stopped = ContinuousClock.now
            gut.gateway.signal(SIGTERM)
            let status = await gut.gateway.waitForExit(timeout: .seconds(15))
            #expect(status == 0, "\(gut.gateway.output.suffix(2000))")
            #expect(ContinuousClock.now - stopped < .seconds(2 + 5))
            try await Task.sleep(for: .seconds(1))
            let finished = try await gut.nextResults(1, within: 5).count
            #expect(finished >= 1)
            let letters = try await gut.drainDeadLetters()
            #expect(letters.isEmpty)
            // Nothing lost: every command is either completed or back in the queue.
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            try await gut.restart()
            var seen = Set<String>()
            let all = try await gut.nextResults(99, within: 60)
            for result in all { seen.insert(result["commandId"] as? String ?? "") }
            #expect(seen.count >= 99 - 1)
            #expect(try await gut.drainDeadLetters().isEmpty)
        }
    }

    @Test func recoversWhenTheBrokerClosesTheConnection() async throws {
        try await withGateway { gut in
            for index in 0..<50 { try await gut.publish(Self.commandBody(call: "cc-\(index)", mode: 1), messageId: "cc-\(index)") }
            let listing = try Harness.rabbitmqctl(["list_connections", "pid", "client_properties"])
            for line in listing.split(separator: "\n") where line.contains("wmg-\(gut.prefix) consumer") {
                if let pid = line.split(separator: "\t").first { _ = try Harness.rabbitmqctl(["close_connection", String(pid), "test closes it"]) }
            }
            for index in 50..<100 { try await gut.publish(Self.commandBody(call: "cc-\(index)", mode: 1), messageId: "cc-\(index)") }
            var ids = Set<String>()
            let deadline = ContinuousClock.now + .seconds(60)
            while ids.count < 100, ContinuousClock.now < deadline {
                for result in try await gut.nextResults(1, within: 30) { ids.insert(result["commandId"] as? String ?? "") }
            }
            #expect(ids.count == 100)
            #expect(gut.gateway.process.isRunning)
            #expect(try await gut.commandsQueueDepth() == 0)
        }
    }

    @Test func killNineLosesNothingAndNeverRepeatsAJournaledOutcome() async throws {
        try await withGateway(environment: ["WMG_PIPELINE_MAXINFLIGHT": "32"]) { gut in try await Self.killNineScenario(gut) }
    }

    static func killNineScenario(_ gut: GatewayUnderTest) async throws {
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":2,"latencyJitterMs":8,"fraction":1.0}"#)
        let total = 1500
        for index in 0..<total { try await gut.publish(Self.commandBody(call: "k-\(index)", mode: 1), messageId: "k-\(index)") }
        let first = try await gut.nextResults(300, within: 60)
        let beforeKill = Set(first.compactMap { $0["commandId"] as? String })
        var inDoubt = Set(first.filter { $0["inDoubt"] as? Bool == true }.compactMap { $0["commandId"] as? String })
        gut.gateway.signal(SIGKILL)
        _ = await gut.gateway.waitForExit(timeout: .seconds(5))
        try await gut.restart()
        var ids = beforeKill
        let deadline = ContinuousClock.now + .seconds(120)
        while ids.count < total, ContinuousClock.now < deadline {
            let batch = try await gut.nextResults(1, within: 60)
            for result in batch {
                let id = result["commandId"] as? String ?? ""
                ids.insert(id)
                if result["inDoubt"] as? Bool == true { inDoubt.insert(id) }
            }
        }
        #expect(ids.count == total)
        // Which commands reached the simulator more than once?
        let requests = try await gut.simulator.requests().filter { $0["endpoint"] as? String == "changeWorkMode" }
        var counts: [String: Int] = [:]
        for request in requests { counts[request["commandId"] as? String ?? "", default: 0] += 1 }
        let repeated = Set(counts.filter { $0.value > 1 }.keys)
        // None whose result was published before the kill reached OIFDE again.
        #expect(repeated.isDisjoint(with: beforeKill))
        // Those that did were in flight at the kill, and say so.
        #expect(repeated.isSubset(of: inDoubt))
        #expect(repeated.count <= 32)
        try await Task.sleep(for: .seconds(1))
        #expect(try await gut.commandsQueueDepth() == 0)
        #expect(!gut.allLogs.contains(GatewayUnderTest.secret))
    }
}
