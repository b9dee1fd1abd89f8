import Foundation
import Testing

/// Commands in per-call order for the replica and cluster tests, and the check that OIFDE applied
/// each call's commands in that order.
enum CallOrder {
    /// `perCall` commands for each of `calls` calls named `<prefix>-<call>`, alternating insertion
    /// and supervision, interleaved across calls; message IDs `<prefix>-<call>-<step>`.
    static func commands(prefix: String, calls: Int, perCall: Int) -> [(body: String, messageId: String)] {
        (0..<perCall).flatMap { step in
            (0..<calls).map { call in
                (ResilienceTests.commandBody(call: "\(prefix)-\(call)", mode: step % 2 == 0 ? 2 : 1), "\(prefix)-\(call)-\(step)")
            }
        }
    }

    /// Each call's history at the simulator, with repeats collapsed to their first application
    /// (a replica taking over forwards again, in order, what the one before it sent and did not
    /// settle), is exactly its commands in order.
    static func expectKept(_ gut: GatewayUnderTest, prefix: String, calls: Int, perCall: Int) async throws {
        for call in 0..<calls {
            let data = try await gut.simulator.control("GET", "/simulator/sessions/t1/\(prefix)-\(call)")
            let session = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let entries = session["history"] as? [[String: Any]] ?? []
            let history = entries.compactMap { $0["commandId"] as? String }
            var applied = Set<String>()
            let collapsed = history.filter { applied.insert($0).inserted }
            // With the times, a failure can be matched against each replica's log.
            let timed = entries.map { "\($0["commandId"] as? String ?? "?")@\(($0["at"] as? String ?? "").suffix(13))" }
            #expect(collapsed == (0..<perCall).map { "\(prefix)-\(call)-\($0)" }, "call \(call): \(timed)")
        }
    }
}
