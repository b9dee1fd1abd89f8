import Foundation

/// What happened on one attempt to call OIFDE, as the client saw it.
public struct AttemptResult: Sendable, Hashable {
    public enum TransportError: String, Sendable, Hashable {
        case connect, timeout, tls, connectionClosed, badResponse
    }

    public var httpStatus: Int?
    /// OIFDE's errorCode, normalised to text (it is an integer in gettoken, a string elsewhere).
    public var errorCode: String?
    public var errorMsg: String?
    public var retryAfter: Duration?
    public var transportError: TransportError?

    public init(
        httpStatus: Int? = nil, errorCode: String? = nil, errorMsg: String? = nil, retryAfter: Duration? = nil,
        transportError: TransportError? = nil
    ) {
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.errorMsg = errorMsg
        self.retryAfter = retryAfter
        self.transportError = transportError
    }
}

/// The decision after one attempt (CONTRACT.md section 4).
public enum AttemptVerdict: Sendable, Hashable {
    case succeeded
    /// Try again after the backoff, or after `retryAfter` when the server named one.
    case retry(retryAfter: Duration?)
    /// The token was missing, expired or refused: get a new one and retry at once.
    case refreshTokenAndRetry
    /// Refused for good.
    case rejected(reason: String)
}

public enum AttemptClassifier {
    public static let tokenErrorCodes: Set<String> = ["900001", "900002"]
    public static let internalErrorCodes: Set<String> = ["10000001", "200900002"]

    public static func classify(_ result: AttemptResult) -> AttemptVerdict {
        if result.transportError != nil { return .retry(retryAfter: nil) }
        let code = result.errorCode.map(normalised)
        if let code, tokenErrorCodes.contains(code) { return .refreshTokenAndRetry }
        if let code, internalErrorCodes.contains(code) { return .retry(retryAfter: result.retryAfter) }
        guard let status = result.httpStatus else { return .retry(retryAfter: nil) }
        switch status {
        case 408, 429:
            return .retry(retryAfter: result.retryAfter)
        case 500...599:
            return .retry(retryAfter: result.retryAfter)
        case 200...299:
            guard let code else {
                // A 2xx without errorCode is not the documented answer: treat it as transient.
                return .retry(retryAfter: nil)
            }
            if code == "0" { return .succeeded }
            return .rejected(reason: "OIFDE refused the change: errorCode \(code)" + message(result.errorMsg))
        case 400...499:
            return .rejected(reason: "OIFDE answered HTTP \(status)" + (code.map { ", errorCode \($0)" } ?? "") + message(result.errorMsg))
        default:
            return .retry(retryAfter: nil)
        }
    }

    /// `0`, `"0"` and `" 0 "` are the same code.
    static func normalised(_ code: String) -> String {
        code.trimmingWhitespace()
    }

    private static func message(_ errorMsg: String?) -> String {
        guard let errorMsg, !errorMsg.isEmpty else { return "" }
        return ": " + DeadLetterAnnotation.oneLine(errorMsg, maxBytes: 200)
    }
}
