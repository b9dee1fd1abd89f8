/// A point on a monotonic clock, the only time the core knows (the shell reads the clock,
/// `Moment.now` in the gateway): breaker windows, token buckets, admission waits, the adaptive
/// limit and drain deadlines count elapsed time, so a step of the wall clock (NTP, an operator)
/// neither opens a breaker early nor cuts a drain short. A command's deadline is wall-clock time by
/// contract; the shell turns it into a `Moment` once, at receipt (``CommandAttempts``).
///
/// Nanoseconds since an origin the clock chooses (a test picks its own); only differences mean
/// anything. The API mirrors `Date`'s, in seconds, so virtual-time tests read the same.
public struct Moment: Sendable, Hashable, Comparable {
    /// Nanoseconds since the clock's origin.
    public let nanoseconds: Int64

    /// The moment `nanoseconds` after the clock's origin.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The moment `seconds` after the clock's origin (virtual time in tests).
    public init(seconds: Double) {
        self.nanoseconds = Self.nanoseconds(seconds)
    }

    /// Earlier than any moment a clock gives, as a "never yet".
    public static let distantPast = Moment(nanoseconds: .min / 4)
    /// Later than any moment a clock gives.
    public static let distantFuture = Moment(nanoseconds: .max / 4)

    /// `seconds` later (earlier when negative).
    public func addingTimeInterval(_ seconds: Double) -> Moment {
        Moment(nanoseconds: nanoseconds.addingClamped(Self.nanoseconds(seconds)))
    }

    /// `duration` later.
    public func adding(_ duration: Duration) -> Moment {
        let (seconds, attoseconds) = duration.components
        let whole = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let span = whole.overflow ? (seconds < 0 ? Int64.min : .max) : whole.partialValue.addingClamped(attoseconds / 1_000_000_000)
        return Moment(nanoseconds: nanoseconds.addingClamped(span))
    }

    /// Seconds from `other` to this moment (negative when `other` is later).
    public func timeIntervalSince(_ other: Moment) -> Double {
        let (difference, overflow) = nanoseconds.subtractingReportingOverflow(other.nanoseconds)
        return overflow ? (Double(nanoseconds) - Double(other.nanoseconds)) / 1e9 : Double(difference) / 1e9
    }

    /// The time from `other` to this moment.
    public func duration(since other: Moment) -> Duration {
        .nanoseconds(nanoseconds.subtractingClamped(other.nanoseconds))
    }

    /// Earlier.
    public static func < (lhs: Moment, rhs: Moment) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    private static func nanoseconds(_ seconds: Double) -> Int64 {
        let value = (seconds * 1e9).rounded()
        guard value.isFinite else { return value < 0 || value.isNaN ? .min / 4 : .max / 4 }
        return Int64(exactly: max(-9.2e18, min(9.2e18, value))) ?? 0
    }
}

extension Int64 {
    fileprivate func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? .min : .max) : sum
    }

    fileprivate func subtractingClamped(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}
