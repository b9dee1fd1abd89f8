import Synchronization

/// Counts commands being processed, and lets the drain wait until none are left.
final class InFlightCounter: Sendable {
    private struct State {
        var count = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// When each command in flight arrived, for the age of the oldest.
        var started: [UInt64: ContinuousClock.Instant] = [:]
        var nextEntry: UInt64 = 0
    }

    private let state = Mutex(State())

    var value: Int { state.withLock { $0.count } }

    /// How long the oldest command in flight has been in the gateway.
    var oldestAge: Duration? {
        state.withLock { state in state.started.values.min().map { ContinuousClock.now - $0 } }
    }

    /// Counts one more; pass the returned entry to `decrement`.
    func increment() -> UInt64 {
        state.withLock { state in
            state.count += 1
            state.nextEntry += 1
            state.started[state.nextEntry] = ContinuousClock.now
            return state.nextEntry
        }
    }

    func decrement(_ entry: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.started.removeValue(forKey: entry)
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitUntilZero() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.count == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// True when the count reached zero within `timeout`.
    func waitUntilZero(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilZero()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first {
                // Wake the zero-waiter so the group can finish; it re-checks nothing.
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            return first
        }
    }
}
