import Logging
import Metrics
import PipelineCore
import Synchronization

/// Carries out PipelineCore's ``Pauses``: one log line and the gauge `wmg_pipeline_paused{cause}`
/// per change of state, `/health/ready`'s reason, and new deliveries held back while paused.
final class PauseDriver: Sendable {
    private struct State {
        var pauses = Pauses()
        /// Deliveries waiting for the pause to end, woken by its end or by `wakeWaiters()`.
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Counts `wakeWaiters()` calls.
        var wakeups: UInt64 = 0
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let gauges: [Pauses.Cause: Gauge]

    init(logger: Logger) {
        self.logger = logger
        var gauges: [Pauses.Cause: Gauge] = [:]
        for cause in Pauses.Cause.allCases {
            let gauge = Gauge(label: "wmg_pipeline_paused", dimensions: [("cause", cause.rawValue)])
            gauge.record(0)
            gauges[cause] = gauge
        }
        self.gauges = gauges
    }

    func hold(_ cause: Pauses.Cause, detail: String) {
        announce(state.withLock { $0.pauses.hold(cause, detail: detail) })
    }

    func release(_ release: FaultRetry.Release) {
        let (change, woken) = state.withLock { state in
            let change = state.pauses.release(release)
            return (change, state.pauses.isPaused ? [] : Self.takeWaiters(&state))
        }
        for waiter in woken { waiter.resume() }
        announce(change)
    }

    /// Wakes the deliveries waiting out a pause, to look again at what else ends their wait (a
    /// stop, the session's end).
    func wakeWaiters() {
        let woken = state.withLock { state in
            state.wakeups += 1
            return Self.takeWaiters(&state)
        }
        for waiter in woken { waiter.resume() }
    }

    private static func takeWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        defer { state.waiters.removeAll() }
        return Array(state.waiters.values)
    }

    private func announce(_ change: Pauses.Change?) {
        switch change {
        case nil:
            return
        case .paused(let cause, let detail):
            gauges[cause]?.record(1)
            logger.error(
                "pausing: \(cause.meaning); no new commands are taken until it works again",
                metadata: ["cause": "\(cause.rawValue)", "detail": "\(detail)"]
            )
        case .resumed(let cause):
            gauges[cause]?.record(0)
            logger.info("resuming: \(cause.recovery)", metadata: ["cause": "\(cause.rawValue)"])
        case .released(let cause):
            gauges[cause]?.record(0)
            logger.warning("no command waits on the fault any more; taking new commands to try again", metadata: ["cause": "\(cause.rawValue)"])
        }
    }

    /// Why new deliveries wait, or nil.
    var reason: String? { state.withLock { $0.pauses.reason } }

    var isPaused: Bool { state.withLock { $0.pauses.isPaused } }

    /// Deliveries waiting out the pause now.
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Waits while paused until `stop` says to give up. Woken when the pause ends and by
    /// `wakeWaiters()` (the gateway's stop, a session's end); looks at `stop` again at least every
    /// `recheck` in case something else ended the wait (a connection gone unannounced).
    func waitWhilePaused(recheck: Duration = .seconds(1), stop: () -> Bool) async {
        while true {
            // Read before `stop()`: a wake-up between the two is not missed.
            let (id, generation) = state.withLock { state -> (UInt64, UInt64) in
                state.nextWaiter += 1
                return (state.nextWaiter, state.wakeups)
            }
            guard isPaused, !stop() else { return }
            var timer: Task<Void, Never>?
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waits = state.withLock { state -> Bool in
                    guard state.pauses.isPaused, state.wakeups == generation else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                guard waits else { return continuation.resume() }
                timer = Task { [self] in
                    try? await Task.sleep(for: recheck)
                    state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
                }
            }
            timer?.cancel()
        }
    }
}
