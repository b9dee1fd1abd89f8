/// The in-flight limit under `pipeline.adaptive` (docs/contract.md section 12): additive increase,
/// multiplicative decrease between `minimum` and `maximum`. One more slot per window of successes
/// whose p90 latency is under the target; half the slots on a 429, a 503 or a timeout. Requests
/// that started before the last decrease cannot cause another: one overload seen by every request
/// in flight halves the limit once, not once per request.
///
/// The window's length is where the limit stands against the last overload (as TCP's slow start
/// stands against its threshold): far below it (under 90%), a quarter of the limit, so the limit
/// climbs back in a round trip or two; near or above it, three times the limit; and ten times
/// the limit for the step back to the level that overflowed, so OIFDE's ceiling is probed about
/// once in fifteen round trips. A plain window of one limit's worth spends as long at half the
/// ceiling as at the ceiling (its mean is 75% of it) and refused 1% of requests against a
/// simulator capped at 16 (`ProtectionTests`); this one keeps the mean within 10% of the cap.
public struct AdaptiveLimit: Sendable {
    /// The lowest limit.
    public let minimum: Int
    /// The highest limit (`pipeline.maxInFlight`).
    public let maximum: Int
    /// p90 latency a window must stay under to grow the limit.
    public let latencyTarget: Duration
    /// The limit now.
    public private(set) var limit: Int
    private var window: [Duration] = []
    private var lastDecrease = Moment.distantPast
    /// The limit when OIFDE last said it had too much.
    private var lastOverloadLimit: Int?

    /// Starts at `maximum`: without overload it behaves like the fixed limit.
    public init(minimum: Int, maximum: Int, latencyTarget: Duration) {
        self.minimum = max(1, min(minimum, maximum))
        self.maximum = maximum
        self.latencyTarget = latencyTarget
        self.limit = maximum
    }

    /// What one request said about OIFDE's capacity.
    public enum Signal: Sendable, Hashable {
        /// Answered, in `latency`.
        case answered(latency: Duration)
        /// 429, 503 or a timeout: OIFDE has more than it can take.
        case overloaded
        /// Anything else (a transport error, a refusal): no word on capacity.
        case neutral
    }

    /// Successes that make one window at the current limit.
    var windowLength: Int {
        guard let ceiling = lastOverloadLimit else { return limit }
        if Double(limit) < 0.9 * Double(ceiling) { return max(1, limit / 4) }
        // The next step returns to where OIFDE last overflowed: try it seldom.
        if limit + 1 == ceiling { return 10 * limit }
        return 3 * limit
    }

    /// Takes one request's signal; returns the new limit when it changed.
    public mutating func record(_ signal: Signal, startedAt: Moment, at now: Moment) -> Int? {
        switch signal {
        case .neutral:
            return nil
        case .overloaded:
            guard startedAt >= lastDecrease else { return nil }
            lastDecrease = now
            lastOverloadLimit = limit
            window.removeAll(keepingCapacity: true)
            let halved = max(minimum, limit / 2)
            guard halved != limit else { return nil }
            limit = halved
            return limit
        case .answered(let latency):
            window.append(latency)
            guard window.count >= windowLength else { return nil }
            window.sort()
            let p90 = window[min(window.count - 1, (window.count * 9) / 10)]
            window.removeAll(keepingCapacity: true)
            guard p90 < latencyTarget, limit < maximum else { return nil }
            limit += 1
            return limit
        }
    }
}
