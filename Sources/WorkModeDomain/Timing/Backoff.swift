import Foundation

/// Exponential backoff with jitter, bounded by a command's deadline.
///
/// | attempt just failed | ceiling before jitter            |
/// |---------------------|----------------------------------|
/// | 1                   | initial                          |
/// | n                   | min(maximum, initial × 2^(n−1))  |
///
/// The wait is uniform in [ceiling / 2, ceiling]: retries of many commands spread out instead of
/// arriving together, and a command's own retries never come so fast (full jitter drew from zero)
/// that its attempts are used up before other commands' failures can show an outage (the
/// pipeline core's known-outage rule). A server's Retry-After replaces the jittered wait.
public struct Backoff: Sendable, Hashable {
    /// The ceiling after the first failed attempt.
    public let initial: Duration
    /// The longest wait.
    public let maximum: Duration

    /// Doubling from `initial` up to `maximum` (raised to `initial` if smaller).
    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The upper bound of the jittered wait after attempt number `attempt` (1-based) failed.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        // Cap the exponent before multiplying so large attempt counts cannot overflow.
        let exponent = min(max(attempt - 1, 0), 30)
        return min(initial * (1 << exponent), maximum)
    }

    /// How long to wait before the next attempt, or `nil` when that attempt would start at or after
    /// the deadline, `timeLeft` from now (the command then expires).
    public func delay(
        afterAttempt attempt: Int, retryAfter: Duration?, timeLeft: Duration, using random: inout some RandomNumberGenerator
    ) -> Duration? {
        let wait: Duration
        if let retryAfter {
            wait = retryAfter
        } else {
            let ceiling = ceiling(afterAttempt: attempt).timeInterval
            wait = .seconds(ceiling > 0 ? Double.random(in: (ceiling / 2)...ceiling, using: &random) : 0)
        }
        guard wait < timeLeft else { return nil }
        return wait
    }

    /// The jittered wait after attempt number `attempt` failed, where no deadline applies (broker
    /// reconnects, retries while paused): uniform between half the ceiling and the ceiling.
    public func delay(afterAttempt attempt: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt).timeInterval
        return .seconds(ceiling > 0 ? Double.random(in: (ceiling / 2)...ceiling, using: &random) : 0)
    }
}
