import PipelineCore
import Synchronization

/// At most `limit` commands talk to OIFDE at once (`pipeline.maxInFlight`). Waiters are served in
/// arrival order; a waiter whose task is cancelled (a drain that ran out of time) leaves the line
/// at once instead of waiting for a slot it no longer wants. The rules are `SlotBook`'s
/// (PipelineCore); this class parks and wakes the tasks.
final class InFlightLimiter: Sendable {
    private struct State {
        var book: SlotBook<UInt64>
        /// The parked tasks of the waiters in `book`.
        var parked: [UInt64: CheckedContinuation<Bool, Never>] = [:]
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
        self.state = Mutex(State(book: SlotBook(limit: limit)))
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
                    if state.book.request(id) {
                        state.unanswered.remove(id)
                        return true
                    }
                    state.parked[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                if state.book.withdraw(id) {
                    state.unanswered.remove(id)
                    return state.parked.removeValue(forKey: id)
                }
                // Not in line yet: the operation sees this mark. (Already answered: nothing to do.)
                if state.unanswered.contains(id) { state.cancelledEarly.insert(id) }
                return nil
            }
            waiter?.resume(returning: false)
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let waiter = state.book.release() else { return nil }
            state.unanswered.remove(waiter)
            return state.parked.removeValue(forKey: waiter)
        }
        next?.resume(returning: true)
    }

    var inUse: Int { state.withLock { $0.book.inUse } }

    /// Waiters still in line (for tests).
    var waitingCount: Int { state.withLock { $0.book.waiting } }
}
