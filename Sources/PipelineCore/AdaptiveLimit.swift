import Foundation

/// The in-flight limit under `pipeline.adaptive` (CONTRACT.md section 12): additive increase,
/// multiplicative decrease between `minimum` and `maximum`. One more slot per window of successes
/// (as many as the limit, so about one round trip) whose p90 latency is under the target; half the
/// slots on a 429, a 503 or a timeout. Requests that started before the last decrease cannot cause
/// another: one overload seen by every request in flight halves the limit once, not once per request.
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
    private var lastDecrease = Date.distantPast

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

    /// Takes one request's signal; returns the new limit when it changed.
    public mutating func record(_ signal: Signal, startedAt: Date, at now: Date) -> Int? {
        switch signal {
        case .neutral:
            return nil
        case .overloaded:
            guard startedAt >= lastDecrease else { return nil }
            lastDecrease = now
            window.removeAll(keepingCapacity: true)
            let halved = max(minimum, limit / 2)
            guard halved != limit else { return nil }
            limit = halved
            return limit
        case .answered(let latency):
            window.append(latency)
            guard window.count >= limit else { return nil }
            window.sort()
            let p90 = window[min(window.count - 1, (window.count * 9) / 10)]
            window.removeAll(keepingCapacity: true)
            guard p90 < latencyTarget, limit < maximum else { return nil }
            limit += 1
            return limit
        }
    }
}
