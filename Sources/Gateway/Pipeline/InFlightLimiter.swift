import Synchronization

/// At most `limit` commands talk to OIFDE at once (`pipeline.maxInFlight`). Waiters are served in
/// arrival order.
final class InFlightLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var waiterHead = 0
    }

    private let state: Mutex<State>
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        self.state = Mutex(State(available: limit))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiterHead < state.waiters.count {
                let waiter = state.waiters[state.waiterHead]
                state.waiterHead += 1
                if state.waiterHead > 1024 {
                    state.waiters.removeFirst(state.waiterHead)
                    state.waiterHead = 0
                }
                return waiter
            }
            state.available += 1
            return nil
        }
        next?.resume()
    }

    var inUse: Int { state.withLock { limit - $0.available } }
}
