import AMQP
import Foundation
import Testing

/// `amqp.url` naming several nodes: the gateway uses the first that answers, and when it loses
/// its node, reconnects to the next.
@Suite(.timeLimit(.minutes(10))) struct BrokerAddressTests {
    @Test func aGatewayThatLosesItsNodeMovesToTheNextOne() async throws {
        let port = Harness.freeBrokerPort()
        _ = try await BrokerRestartTests.script(["fresh"], port: port)
        do {
            // The private node first, the shared test broker (where the test's tap is) second.
            let nodes = "amqp://guest:guest@127.0.0.1:\(port),127.0.0.1:\(Harness.sharedBrokerPort)/%2f"
            try await withGateway(environment: ["WMG_AMQP_URL": nodes]) { gut in
                func connections() -> [Substring] { gut.gateway.output.split(separator: "\n").filter { $0.contains("connected to the broker") } }
                #expect(connections().first?.contains("127.0.0.1:\(port)/") == true, "it starts on the first node: \(connections())")
                _ = try await BrokerRestartTests.script(["ctl", "stop_app"], port: port)
                let end = ContinuousClock.now + .seconds(60)
                while gut.gateway.output.components(separatedBy: "\"message\":\"consuming\"").count < 3, ContinuousClock.now < end {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(connections().last?.contains("127.0.0.1:\(Harness.sharedBrokerPort)/") == true, "then on the next: \(connections())")
                try await gut.publish(ResilienceTests.commandBody(call: "moved", mode: 2), messageId: "moved-1")
                #expect(try await gut.nextResults(1, within: 30).first?["status"] as? String == "succeeded")
            }
        } catch {
            _ = try? await BrokerRestartTests.script(["stop"], port: port)
            throw error
        }
        _ = try await BrokerRestartTests.script(["stop"], port: port)
    }
}
