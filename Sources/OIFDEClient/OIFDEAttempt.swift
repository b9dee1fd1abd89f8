import WorkModeDomain

/// One attempt to apply a command, as the pipeline needs it: what happened, what to do next, and
/// how long it took. Never contains a token.
///
/// The verdict is derived, never stored: only ``Exchange/answered(_:)`` (an answer of
/// `changeWorkMode` itself) can yield `.succeeded`; a token that could not be obtained or a
/// command that could not be sent carries a ``FailureVerdict``, which has no success case.
public struct OIFDEAttempt: Sendable, Hashable {
    /// What the attempt exchanged with OIFDE, by origin.
    public enum Exchange: Sendable, Hashable {
        /// `changeWorkMode` was sent; what came back (or the transport error).
        case answered(AttemptResult)
        /// Sent, answered, but the answer's verdict is overridden (passthrough mode: the command's
        /// own token was refused, and the gateway cannot renew it).
        case answeredButRefused(AttemptResult, FailureVerdict)
        /// No token could be obtained, so nothing was sent.
        case tokenFailed(TokenFailure)
        /// Nothing was sent, for a reason that will not change (no secret, no token in passthrough).
        case notSent(reason: String)
    }

    /// What happened.
    public var exchange: Exchange
    /// How long the attempt took, token fetch included.
    public var duration: Duration
    /// The token was refused (900001/900002), renewed, and the request sent again within this attempt.
    public var refreshedToken: Bool

    /// An attempt as the client saw it; its verdict is derived from `exchange`.
    public init(exchange: Exchange, duration: Duration, refreshedToken: Bool) {
        self.exchange = exchange
        self.duration = duration
        self.refreshedToken = refreshedToken
    }

    /// What the pipeline does next: derived, so only a changeWorkMode answer can be `.succeeded`.
    public var verdict: AttemptVerdict {
        switch exchange {
        case .answered(let result): return AttemptClassifier.classify(result)
        case .answeredButRefused(_, let verdict): return AttemptVerdict(verdict)
        case .tokenFailed(let failure): return AttemptVerdict(failure.verdict)
        case .notSent(let reason): return .rejected(reason: reason)
        }
    }

    /// What changeWorkMode answered; empty when it was not sent.
    public var result: AttemptResult {
        switch exchange {
        case .answered(let result), .answeredButRefused(let result, _): return result
        case .tokenFailed, .notSent: return AttemptResult()
        }
    }

    /// Whether the attempt got as far as sending changeWorkMode (false: no secret, no token).
    public var sentRequest: Bool {
        switch exchange {
        case .answered, .answeredButRefused: return true
        case .tokenFailed, .notSent: return false
        }
    }

    /// The changeWorkMode request provably never left (no connection, a failed handshake, none
    /// free in time, closed before writing): not an attempt (docs/contract.md section 14).
    public var transportNeverSent: Bool { result.transportError?.provablyNotSent ?? false }

    /// The request went out and what became of it is unknown (no complete answer in time, the
    /// connection lost after writing, an answer that is not HTTP): OIFDE may have applied it.
    public var unknownOutcome: String? {
        guard let transport = result.transportError, !transport.provablyNotSent else { return nil }
        return transport.explanation
    }

    /// What went wrong (or right), in one line for reasons and logs.
    public var summary: String {
        switch exchange {
        case .answered(let result), .answeredButRefused(let result, _): return result.summary
        case .tokenFailed(let failure): return failure.reason
        case .notSent(let reason): return reason
        }
    }
}
