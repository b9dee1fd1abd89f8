import Foundation
import PipelineCore
import Synchronization

/// The commands of one broker session, and its drain: the rules are ``Drain``'s (PipelineCore);
/// this class holds the task that waits for the drain to end and wakes it.
final class DrainDriver: Sendable {
    private struct State {
        var drain: Drain<UInt64>
        var nextEntry: UInt64 = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var drained = false
    }

    private let state: Mutex<State>

    /// `holdsUntilClose` when the session's queues have a single active consumer (``Drain``).
    init(holdsUntilClose: Bool) {
        state = Mutex(State(drain: Drain(holdsUntilClose: holdsUntilClose)))
    }

    var value: Int { state.withLock { $0.drain.inFlight } }

    /// How long the oldest command in flight has been in the gateway.
    var oldestAge: Duration? {
        state.withLock { $0.drain.oldestStart }.map { max(.zero, Moment.now.duration(since: $0)) }
    }

    /// What a delivery arriving now would be told (``Drain``), without counting it in.
    func admission(aheadOfHeld: Bool = false) -> Drain<UInt64>.Admission {
        state.withLock { $0.drain.admission(aheadOfHeld: aheadOfHeld) }
    }

    /// Counts a delivery in and returns its entry, to pass to `decrement` once the delivery is
    /// settled; or, while draining, what to do with it untouched (``Drain``).
    func increment(aheadOfHeld: Bool = false) -> Result<UInt64, Untouched> {
        state.withLock { state in
            state.nextEntry += 1
            let admission = state.drain.delivered(state.nextEntry, at: .now, aheadOfHeld: aheadOfHeld)
            guard admission == .process else { return .failure(Untouched(admission: admission)) }
            // Started during a drain: not drained until it ends.
            state.drained = false
            return .success(state.nextEntry)
        }
    }

    /// A delivery the drain did not start, and what to do with it.
    struct Untouched: Error {
        let admission: Drain<UInt64>.Admission
    }

    func decrement(_ entry: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.drain.finished(entry) == .drained else { return [] }
            return Self.wake(&state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Starts the drain now (once; later calls change nothing) and returns what ``Drain`` answered:
    /// `cancelConsumer` the first time, `drained` when nothing was in flight.
    @discardableResult
    func beginDrain(timeout: Duration) -> [Drain<UInt64>.Action] {
        let (actions, waiters) = state.withLock { state -> ([Drain<UInt64>.Action], [CheckedContinuation<Void, Never>]) in
            let actions = state.drain.requested(at: .now, timeout: timeout)
            guard actions.contains(.drained) else { return (actions, []) }
            return (actions, Self.wake(&state))
        }
        for waiter in waiters { waiter.resume() }
        return actions
    }

    /// True once nothing is in flight after the drain began.
    var isDrained: Bool { state.withLock { $0.drained } }

    private static func wake(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.drained = true
        defer { state.waiters.removeAll() }
        return state.waiters
    }

    /// Waits until every command in flight is settled or the drain's deadline passes (the drain
    /// began at most `timeout` ago, or begins now). True when drained; false when the deadline cut
    /// it short: the caller cancels what is left.
    func waitUntilDrained(timeout: Duration) async -> Bool {
        beginDrain(timeout: timeout)
        if isDrained { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { state -> Bool in
                        if state.drained { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
                return true
            }
            group.addTask {
                while true {
                    let wake = self.state.withLock { $0.drained ? nil : $0.drain.nextWakeup }
                    guard let wake else { return true }
                    if Moment.now >= wake {
                        let cut = self.state.withLock { $0.drain.tick(at: .now) }
                        if cut != nil { return false }
                    }
                    try? await Task.sleep(until: max(wake, Moment.now.addingTimeInterval(0.001)).instant, clock: .continuous)
                    if Task.isCancelled { return true }
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first {
                // Wake the drained-waiter so the group can finish.
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            return first
        }
    }

    /// After a cut-short drain: waits (bounded) until the cancelled commands are settled.
    func waitUntilEmpty(timeout: Duration) async {
        let end = ContinuousClock.now + timeout
        while value > 0, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
    }
}
