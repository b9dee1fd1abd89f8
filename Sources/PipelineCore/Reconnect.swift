import WorkModeDomain

/// When the gateway opens its next broker session. A session refused, or one that ends at once,
/// counts as a failure and the next waits longer (100 ms doubling to 10 s, jittered over its upper
/// half): reconnecting without a pause let the broker redeliver each command until its delivery
/// limit dead-lettered it (seen on a loaded machine). A session that consumed for a while starts
/// the count over, and the next opens at once. The shell sleeps as told, cut short by a stop.
public struct Reconnect: Sendable {
    /// What the shell does before its next session.
    public enum Action: Sendable, Hashable {
        /// Open the next session now.
        case connect
        /// Wait this long, then open it.
        case wait(Duration)
    }

    /// Between sessions: the commands' own backoff, without a deadline.
    public static let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10))
    /// A session that consumed at least this long was no failure.
    public static let servedLongEnough = Duration.seconds(1)

    /// Failures in a row.
    public private(set) var failures = 0

    /// No failure yet: the first session opens at once.
    public init() {}

    /// A session could not be opened (the broker refused or was unreachable).
    public mutating func openFailed(using random: inout some RandomNumberGenerator) -> Action {
        failures += 1
        return .wait(Self.backoff.delay(afterAttempt: failures, using: &random))
    }

    /// A session ended (not by a stop): `consumed` when its consumer started, after `lasted`.
    public mutating func sessionEnded(consumed: Bool, lasted: Duration, using random: inout some RandomNumberGenerator) -> Action {
        if consumed, lasted > Self.servedLongEnough {
            failures = 0
            return .connect
        }
        return openFailed(using: &random)
    }
}
