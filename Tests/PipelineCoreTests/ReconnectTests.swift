import PipelineCore
import Testing
import WorkModeDomain

/// When the next broker session opens, without a broker.
@Suite(.timeLimit(.minutes(10))) struct ReconnectTests {
    @Test func refusalsWaitLongerEachTimeInTheUpperHalfOfTheirCeiling() {
        var random = SplitMix64(state: 11)
        for _ in 0..<50 {
            var reconnect = Reconnect()
            for failures in 1...30 {
                let ceiling = Reconnect.backoff.ceiling(afterAttempt: failures)
                guard case .wait(let delay) = reconnect.openFailed(using: &random) else {
                    Issue.record("a refused session is followed by a wait")
                    return
                }
                #expect(delay >= ceiling / 2 && delay <= ceiling, "\(failures): \(delay)")
                #expect(delay >= .milliseconds(50), "never a spin")
            }
        }
        #expect(Reconnect.backoff.ceiling(afterAttempt: 1) == .milliseconds(100))
        #expect(Reconnect.backoff.ceiling(afterAttempt: 30) == .seconds(10))
    }

    /// A session that ends at once counts as a refusal (reconnecting without a pause let the
    /// broker redeliver each command to its delivery limit); one that served starts over.
    @Test func aSessionThatServedStartsOverAndOneThatEndedAtOnceWaits() {
        var random = SplitMix64(state: 3)
        var reconnect = Reconnect()
        _ = reconnect.openFailed(using: &random)
        _ = reconnect.openFailed(using: &random)
        #expect(reconnect.failures == 2)
        #expect(reconnect.sessionEnded(consumed: true, lasted: .seconds(30), using: &random) == .connect)
        #expect(reconnect.failures == 0)
        guard case .wait(let quick) = reconnect.sessionEnded(consumed: true, lasted: .milliseconds(200), using: &random) else {
            Issue.record("a session that ended at once is followed by a wait")
            return
        }
        #expect(quick <= .milliseconds(100) && reconnect.failures == 1)
        guard case .wait = reconnect.sessionEnded(consumed: false, lasted: .seconds(30), using: &random) else {
            Issue.record("a consumer the broker refused is a failure however long the connection lasted")
            return
        }
        #expect(reconnect.failures == 2)
    }
}
