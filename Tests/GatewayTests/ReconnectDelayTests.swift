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
}
