import WorkModeDomain

/// Why the gateway has stopped taking new deliveries (docs/contract.md section 4): the completion
/// journal cannot be written, or the broker refuses what the gateway publishes. Either would
/// otherwise requeue commands in a hot loop until the queue's delivery limit dead-lettered them as
/// `poison`, some already applied by OIFDE.
///
/// Each command that meets the fault holds the pause while it retries (``FaultRetry``);
/// new deliveries wait (unacked, so nothing is redelivered and nothing counts toward the delivery
/// limit) until the last holder lets go. Bookkeeping only: the shell (`PauseDriver`) logs each
/// ``Change``, sets the gauge, sleeps and holds deliveries back as told.
public struct Pauses: Sendable {
    /// What failed.
    public enum Cause: String, CaseIterable, Sendable {
        case journal, publish

        /// What stopped the pipeline, for the log line and `/health/ready`.
        public var meaning: String {
            switch self {
            case .journal: return "the completion journal cannot be written"
            case .publish: return "the broker refuses result events or dead letters"
            }
        }

        /// What made it go again.
        public var recovery: String {
            switch self {
            case .journal: return "the completion journal can be written again"
            case .publish: return "the broker takes result events again"
            }
        }
    }

    /// A change of state the shell announces (once per change, never per holder).
    public enum Change: Sendable, Hashable {
        /// The first holder met `cause`: new deliveries wait from now on.
        case paused(Cause, detail: String)
        /// The last holder's retry went through: deliveries flow again.
        case resumed(Cause)
        /// The last holder gave up without succeeding (its session ended, a drain ran out):
        /// deliveries flow again, and the next command that meets the fault pauses anew.
        case released(Cause)
    }

    private struct Held: Sendable {
        var holders = 0
        var detail = ""
    }

    private var held: [Cause: Held] = [:]

    /// Nothing held: deliveries flow.
    public init() {}

    /// A command starts waiting out `cause`; `detail` says what failed (an errno text, a nack).
    public mutating func hold(_ cause: Cause, detail: String) -> Change? {
        var entry = held[cause] ?? Held()
        entry.holders += 1
        entry.detail = detail
        held[cause] = entry
        return entry.holders == 1 ? .paused(cause, detail: detail) : nil
    }

    /// A command stops waiting out a fault, as its ``FaultRetry`` answered.
    public mutating func release(_ release: FaultRetry.Release) -> Change? {
        self.release(release.cause, recovered: release.recovered)
    }

    /// A command stops waiting out `cause`: `recovered` when its retry went through. Nil while
    /// other commands still hold it, or when nothing held it.
    public mutating func release(_ cause: Cause, recovered: Bool) -> Change? {
        guard var entry = held[cause] else { return nil }
        entry.holders -= 1
        guard entry.holders <= 0 else {
            held[cause] = entry
            return nil
        }
        held[cause] = nil
        return recovered ? .resumed(cause) : .released(cause)
    }

    /// True while any command holds a pause: new deliveries wait.
    public var isPaused: Bool { !held.isEmpty }

    /// Why new deliveries wait (each cause with its latest detail), or nil.
    public var reason: String? {
        let reasons = Cause.allCases.compactMap { cause in held[cause].map { "\(cause.meaning): \($0.detail)" } }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }

    /// Between a holder's tries: 200 ms doubling to 5 s, jittered over its upper half so the
    /// commands that wait spread out and the broker or disk sees a bounded rate.
    public static let retryBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))

    /// How long a holder waits after its `failures`-th failed try (1-based).
    public static func retryDelay(afterFailures failures: Int, using random: inout some RandomNumberGenerator) -> Duration {
        retryBackoff.delay(afterAttempt: failures, using: &random)
    }
}
