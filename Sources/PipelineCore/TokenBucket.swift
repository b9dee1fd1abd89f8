/// A tenant's `rateLimit` (docs/contract.md section 12): at most `rate` requests per second, spaced
/// evenly (a bucket of one token), so a burst is spread out instead of sent at once.
public struct TokenBucket: Sendable, Hashable {
    /// Requests per second.
    public let rate: Double
    private var nextToken = Moment.distantPast

    /// A bucket with a token ready.
    public init(rate: Double) {
        self.rate = rate
    }

    /// When the next token is there (now or earlier: at once).
    public var availableAt: Moment { nextToken }

    /// True when a token is there at `now`.
    public func hasToken(at now: Moment) -> Bool { now >= nextToken }

    /// Takes the token that `hasToken(at:)` said is there.
    public mutating func take(at now: Moment) {
        nextToken = max(nextToken, now).addingTimeInterval(1 / rate)
    }
}
