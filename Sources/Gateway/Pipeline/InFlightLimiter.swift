import Synchronization

/// At most `limit` commands talk to OIFDE at once (`pipeline.maxInFlight`). Waiters are served in
/// arrival order; a waiter whose task is cancelled (a drain that ran out of time) leaves the line
/// at once instead of waiting for a slot it no longer wants.
final class InFlightLimiter: Sendable {
    private struct State {
        var available: Int
        /// Waiters in arrival order; a cancelled one leaves a hole that `release` skips.
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)?] = []
        var waiterHead = 0
        var nextId: UInt64 = 0
        /// Asked for a slot and not answered yet.
        var unanswered: Set<UInt64> = []
        /// Cancelled before their continuation was stored.
        var cancelledEarly: Set<UInt64> = []
    }

    private let state: Mutex<State>
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        self.state = Mutex(State(available: limit))
    }

    /// Takes a slot. False when the task was cancelled while waiting: no slot is held then, so the
    /// caller must not `release`.
    func acquire() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            state.unanswered.insert(state.nextId)
            return state.nextId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if state.cancelledEarly.remove(id) != nil {
                        state.unanswered.remove(id)
                        return false
                    }
                    if state.available > 0 {
                        state.available -= 1
                        state.unanswered.remove(id)
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                for index in state.waiterHead..<state.waiters.count where state.waiters[index]?.id == id {
                    let continuation = state.waiters[index]?.continuation
                    state.waiters[index] = nil
                    state.unanswered.remove(id)
                    return continuation
                }
                // Not stored yet: the operation sees this mark. (Already answered: nothing to do.)
                if state.unanswered.contains(id) { state.cancelledEarly.insert(id) }
                return nil
            }
            waiter?.resume(returning: false)
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            while state.waiterHead < state.waiters.count {
                let waiter = state.waiters[state.waiterHead]
                state.waiterHead += 1
                if state.waiterHead > 1024 {
                    state.waiters.removeFirst(state.waiterHead)
                    state.waiterHead = 0
                }
                if let waiter {
                    state.unanswered.remove(waiter.id)
                    return waiter.continuation
                }
            }
            state.available += 1
            return nil
        }
        next?.resume(returning: true)
    }

    var inUse: Int { state.withLock { limit - $0.available } }

    /// Waiters still in line (for tests).
    var waitingCount: Int { state.withLock { state in state.waiters[state.waiterHead...].filter { $0 != nil }.count } }
}
