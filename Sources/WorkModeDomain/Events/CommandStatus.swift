/// How a command ended. Exactly one per command.
public enum CommandStatus: String, Sendable, Hashable, CaseIterable {
    /// OIFDE answered errorCode "0".
    case succeeded
    /// Validation failed; no HTTP call was made.
    case invalid
    /// OIFDE refused it for good, or its tenant has no configured secret.
    case rejected
    /// Still failing after retry.maxAttempts attempts.
    case failed
    /// Its deadline passed before it could be applied.
    case expired

    /// The dead-letter class, routing key on `workmode.dead`; `nil` for success.
    public var deadLetterClass: DeadLetterClass? {
        switch self {
        case .succeeded: return nil
        case .invalid: return .invalid
        case .rejected: return .rejected
        case .failed: return .exhausted
        case .expired: return .expired
        }
    }
}

/// Why a command was dead-lettered; also its routing key on the dead-letter exchange.
public enum DeadLetterClass: String, Sendable, Hashable, CaseIterable {
    case invalid, rejected, exhausted, expired
}
