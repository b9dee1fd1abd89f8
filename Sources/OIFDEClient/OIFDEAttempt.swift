import WorkModeDomain

/// One attempt to apply a command, as the pipeline needs it: what happened, what to do next, and
/// how long it took. Never contains a token.
public struct OIFDEAttempt: Sendable, Hashable {
    public var result: AttemptResult
    public var verdict: AttemptVerdict
    public var duration: Duration
    /// The token was refused (900001/900002), renewed, and the request sent again within this attempt.
    public var refreshedToken: Bool
    /// Whether a changeWorkMode request went out (false when the tenant has no secret, or no token
    /// could be obtained).
    public var sentRequest: Bool
}
