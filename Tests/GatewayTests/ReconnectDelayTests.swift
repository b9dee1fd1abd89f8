import Testing
import WorkModeDomain

@testable import Gateway

@Suite(.timeLimit(.minutes(10))) struct ReconnectDelayTests {
    @Test func staysBetweenFiftyMillisecondsAndTheCeilingOfItsFailureCount() {
        for failures in 1...30 {
            let ceiling = max(.milliseconds(50), Gateway.reconnectBackoff.ceiling(afterAttempt: failures))
            for _ in 0..<50 {
                let delay = Gateway.reconnectDelay(failures: failures)
                #expect(delay >= .milliseconds(50) && delay <= ceiling, "\(failures): \(delay)")
            }
        }
        #expect(Gateway.reconnectBackoff.ceiling(afterAttempt: 1) == .milliseconds(100))
        #expect(Gateway.reconnectBackoff.ceiling(afterAttempt: 30) == .seconds(10))
    }

    /// Retries while paused (journal, broker) and reconnects share `Backoff`: between half the
    /// ceiling and the ceiling, 200 ms doubling to 5 s.
    @Test func pauseDelaysStayInTheUpperHalfOfTheirCeiling() {
        for failures in 1...20 {
            let ceiling = CommandProcessor.pauseBackoff.ceiling(afterAttempt: failures)
            for _ in 0..<50 {
                let delay = CommandProcessor.pauseDelay(failures: failures)
                #expect(delay >= ceiling / 2 && delay <= ceiling, "\(failures): \(delay)")
            }
        }
        #expect(CommandProcessor.pauseBackoff.ceiling(afterAttempt: 1) == .milliseconds(200))
        #expect(CommandProcessor.pauseBackoff.ceiling(afterAttempt: 20) == .seconds(5))
    }
}
