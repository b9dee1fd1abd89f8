import AMQP
import Foundation
import Testing

/// A memory alarm blocks every publisher of the node (`connection.blocked`): on a private node, so
/// the other suites' broker is untouched.
@Suite(.timeLimit(.minutes(10))) struct BlockedBrokerTests {
    @Test func aMemoryAlarmMakesReadySayWhyAndLosesNothing() async throws {
        let port = Harness.freeBrokerPort()
        _ = try await BrokerRestartTests.script(["fresh"], port: port)
        do {
            let url = try await BrokerRestartTests.script(["url"], port: port)
            try await withGateway(environment: ["WMG_OIFDE_TIMEOUT": "20s"], amqpURL: url) { gut in try await Self.alarmScenario(gut, port: port) }
        } catch {
            _ = try? await BrokerRestartTests.script(["ctl", "set_vm_memory_high_watermark", "0.4"], port: port)
            _ = try? await BrokerRestartTests.script(["stop"], port: port)
            throw error
        }
        _ = try await BrokerRestartTests.script(["stop"], port: port)
    }

    static func alarmScenario(_ gut: GatewayUnderTest, port: Int) async throws {
        // OIFDE answers after 6 s: the broker checks memory every 2.5 s, so the alarm is on before
        // the first result is published (a connection is blocked only once it publishes).
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":6000,"fraction":1.0}"#)
        let count = 20
        try await gut.publishAll((0..<count).map { (AdminTests.command("blocked-\($0)", mode: 2), "blocked-\($0)") })
        _ = try await BrokerRestartTests.script(["ctl", "set_vm_memory_high_watermark", "0.0000001"], port: port)
        let end = ContinuousClock.now + .seconds(40)
        var ready = await gut.admin("/health/ready")
        while !(ready.status == 503 && ready.body.contains("broker blocked the connection")), ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(100))
            ready = await gut.admin("/health/ready")
        }
        #expect(ready.status == 503, "\(ready.body)")
        #expect(ready.body.contains("broker blocked the connection"), "\(ready.body)")
        // The broker takes the publish that made it block the connection, and nothing after it:
        // the commands wait for their confirms, unacked, while ready says why.
        try await FaultProbeTests.waitFor("a publish held unconfirmed by the blocked connection", timeout: .seconds(40)) {
            (ProtectionTests.gauge("wmg_publish_confirms_pending", in: await gut.admin("/metrics").body) ?? 0) >= 1
        }
        #expect(await gut.admin("/health/ready").status == 503)
        _ = try await BrokerRestartTests.script(["ctl", "set_vm_memory_high_watermark", "0.4"], port: port)
        let results = try await gut.nextResults(count, within: 60)
        #expect(Set(results.compactMap { $0["commandId"] as? String }).count == count, "nothing lost")
        #expect(
            results.allSatisfy { $0["status"] as? String == "succeeded" }, "\(results.filter { $0["status"] as? String != "succeeded" }.prefix(2))")
        #expect(try await gut.drainDeadLetters().isEmpty)
        var readyAgain = await gut.admin("/health/ready")
        let settled = ContinuousClock.now + .seconds(20)
        while readyAgain.status != 200, ContinuousClock.now < settled {
            try await Task.sleep(for: .milliseconds(100))
            readyAgain = await gut.admin("/health/ready")
        }
        #expect(readyAgain.status == 200, "\(readyAgain.body)")
    }
}
