import Synchronization

/// The one answer to one exchange. The handler, the deadline timer, a failed write and the
/// task's cancellation may all try to give it; the first one wins and the rest are ignored, so the
/// waiting task is resumed exactly once whatever races.
final class ExchangeCompletion: Sendable {
    typealias Outcome = Result<HTTPAnswer, HTTPExchangeError>

    private enum State {
        case waiting(CheckedContinuation<Outcome, Never>?)
        case done(Outcome)
    }

    private let state = Mutex(State.waiting(nil))

    /// Waits for the outcome; `start` runs once the wait is registered (it begins the exchange).
    func wait(start: () -> Void) async -> Outcome {
        await withCheckedContinuation { continuation in
            let early = state.withLock { state -> Outcome? in
                switch state {
                case .done(let outcome): return outcome
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                }
            }
            if let early {
                continuation.resume(returning: early)
            } else {
                start()
            }
        }
    }

    /// Gives the outcome; false when another one came first.
    @discardableResult
    func complete(_ outcome: Outcome) -> Bool {
        let (won, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Outcome, Never>?) in
            guard case .waiting(let continuation) = state else { return (false, nil) }
            state = .done(outcome)
            return (true, continuation)
        }
        waiter?.resume(returning: outcome)
        return won
    }
}
