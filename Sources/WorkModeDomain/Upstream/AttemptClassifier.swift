import Foundation

/// What `changeWorkMode` answered on one attempt, as the client saw it. Only this type can make a
/// command succeed: a token that could not be obtained is a ``TokenFailure``, which cannot.
public struct AttemptResult: Sendable, Hashable {
    /// Why no answer came.
    public enum TransportError: String, Error, Sendable, Hashable {
        /// No connection could be made: the request never left, so OIFDE cannot have applied it.
        case connect
        /// The TLS handshake failed: the request never left.
        case tls
        /// No connection became free, or none could be opened, before the time limit: never sent.
        case noConnection
        /// The connection was found closed before the request was written: never sent.
        case closedBeforeSending
        /// The HTTP proxy refused to open a tunnel to OIFDE (its status in ``AttemptResult/proxyStatus``): never sent.
        case proxyRefused
        /// No complete answer within the time limit: the request may have been applied.
        case timeout
        /// The connection ended after the request was written (a TLS connection cut in the middle
        /// of the answer too): it may have been applied.
        case connectionClosed
        /// The answer was not valid HTTP: the request was received, so it may have been applied.
        case badResponse
        /// The attempt was stopped (a drain out of time) before the request left: never sent.
        case cancelledBeforeSending
        /// The attempt was stopped (a drain out of time) after the request began to leave: it may
        /// have been applied.
        case cancelled

        /// The request provably did not reach OIFDE: retrying it cannot apply a change twice.
        public var provablyNotSent: Bool {
            switch self {
            case .connect, .tls, .noConnection, .closedBeforeSending, .proxyRefused, .cancelledBeforeSending: return true
            case .timeout, .connectionClosed, .badResponse, .cancelled: return false
            }
        }

        /// One line for reasons and logs of a changeWorkMode request: what happened, and whether
        /// the change may have been applied.
        public var explanation: String {
            switch self {
            case .connect, .tls, .noConnection, .proxyRefused: return "\(what) (the request was not sent)"
            case .closedBeforeSending, .cancelledBeforeSending: return "\(what) (not sent)"
            case .timeout, .connectionClosed, .badResponse, .cancelled: return "\(what) (the change may have been applied: in doubt)"
            }
        }

        /// What happened, alone (a gettoken request applies nothing, whatever became of it).
        public var what: String {
            switch self {
            case .connect: return "could not connect"
            case .tls: return "the TLS handshake failed"
            case .noConnection: return "no connection to OIFDE within the time limit"
            case .closedBeforeSending: return "the connection was closed before the request was written"
            case .proxyRefused: return "the HTTP proxy refused the tunnel to OIFDE"
            case .timeout: return "no complete answer within the time limit"
            case .connectionClosed: return "the connection was lost after the request was sent"
            case .badResponse: return "the answer was not valid HTTP"
            case .cancelledBeforeSending: return "the attempt was stopped before the request was written"
            case .cancelled: return "the attempt was stopped after the request was sent"
            }
        }
    }

    /// The HTTP status, when an answer came.
    public var httpStatus: Int?
    /// OIFDE's errorCode, normalised to text (it is an integer in gettoken, a string elsewhere).
    public var errorCode: String?
    /// OIFDE's errorMsg.
    public var errorMsg: String?
    /// A `Retry-After` the server sent.
    public var retryAfter: Duration?
    /// Set when no (complete) answer came.
    public var transportError: TransportError?
    /// What was wrong with the body of an answer that carried no usable JSON (empty, not JSON,
    /// too large), so a reason can say it instead of a bare "bad response".
    public var bodyProblem: String?
    /// The `Location` of a 3xx answer, without its query.
    public var location: String?
    /// The HTTP proxy's status when it refused the tunnel (``TransportError/proxyRefused``).
    public var proxyStatus: Int?

    /// What changeWorkMode answered (or the transport error instead of an answer).
    public init(
        httpStatus: Int? = nil, errorCode: String? = nil, errorMsg: String? = nil, retryAfter: Duration? = nil,
        transportError: TransportError? = nil, bodyProblem: String? = nil, location: String? = nil
    ) {
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.errorMsg = errorMsg
        self.retryAfter = retryAfter
        self.transportError = transportError
        self.bodyProblem = bodyProblem
        self.location = location
    }

    /// What happened, in one line without secrets: "HTTP 503, errorCode 10000001",
    /// "HTTP 200 with an empty body", "transport error: timeout (…)".
    public var summary: String {
        if let transport = transportError {
            let proxy = proxyStatus.map { ", proxy answered HTTP \($0)" + ($0 == 407 ? " (check oifde.proxy credentials)" : "") } ?? ""
            return "transport error: \(transport.rawValue): \(transport.explanation)\(proxy)"
        }
        var text = "HTTP " + String(httpStatus ?? 0)
        if let bodyProblem { return text + " with " + bodyProblem }
        if let code = errorCode { text += ", errorCode " + code }
        return text
    }
}

/// The decision after one attempt (docs/contract.md section 4).
public enum AttemptVerdict: Sendable, Hashable {
    case succeeded
    /// Try again after the backoff, or after `retryAfter` when the server named one.
    case retry(retryAfter: Duration?)
    /// The token was missing, expired or refused: get a new one and retry at once.
    case refreshTokenAndRetry
    /// Refused for good.
    case rejected(reason: String)

    /// The same decision, for an attempt that could not succeed.
    public init(_ failure: FailureVerdict) {
        switch failure {
        case .retry(let retryAfter): self = .retry(retryAfter: retryAfter)
        case .rejected(let reason): self = .rejected(reason: reason)
        }
    }
}

/// A decision that cannot be a success: for everything that is not an answer of `changeWorkMode`.
public enum FailureVerdict: Sendable, Hashable {
    case retry(retryAfter: Duration?)
    case rejected(reason: String)
}

/// Why `gettoken` gave no usable token. Whatever it carries, a command cannot succeed on it: the
/// change was never sent.
public struct TokenFailure: Sendable, Hashable {
    /// What was wrong with the gettoken exchange.
    public enum Problem: Sendable, Hashable {
        case transport(AttemptResult.TransportError)
        /// An HTTP status other than 2xx.
        case httpStatus(Int, errorCode: String?, errorMsg: String?)
        /// 2xx without JSON: what was wrong with the body.
        case unreadable(status: Int, problem: String)
        /// A non-zero errorCode.
        case refused(errorCode: String, errorMsg: String?)
        /// errorCode 0 (or none) but no usable `authToken`: what was wrong with it.
        case noToken(errorCode: String?, problem: String)
    }

    /// What was wrong.
    public var problem: Problem

    /// A token failure of the given kind.
    public init(_ problem: Problem) { self.problem = problem }

    /// Codes that say the tenant's credentials are wrong or locked: asking again cannot help until
    /// an operator fixes the secret.
    public static let credentialErrorCodes: Set<String> = ["200800001", "200800002", "200800003"]

    /// Retry, or reject for good (wrong credentials, a 4xx); never a success.
    public var verdict: FailureVerdict {
        switch problem {
        case .transport, .unreadable, .noToken: return .retry(retryAfter: nil)
        case .httpStatus(let status, _, _):
            if (400...499).contains(status), status != 408, status != 429 { return .rejected(reason: reason) }
            return .retry(retryAfter: nil)
        case .refused(let code, _):
            return Self.credentialErrorCodes.contains(code) ? .rejected(reason: reason) : .retry(retryAfter: nil)
        }
    }

    /// One line naming gettoken and what was wrong; never the secret or a token.
    public var reason: String {
        switch problem {
        case .transport(let kind): return "gettoken failed: \(kind.rawValue): \(kind.what) (no change was sent)"
        case .httpStatus(let status, let code, let message):
            return "gettoken answered HTTP \(status)" + (code.map { ", errorCode \($0)" } ?? "") + AttemptClassifier.message(message)
        case .unreadable(let status, let problem): return "gettoken answered HTTP \(status) with \(problem)"
        case .refused(let code, let message):
            let meaning = Self.credentialErrorCodes.contains(code) ? " (check the tenant's appSecret)" : ""
            return "gettoken refused the tenant's credentials: errorCode \(code)\(meaning)" + AttemptClassifier.message(message)
        case .noToken(let code, let problem):
            return "gettoken answered errorCode \(code ?? "none") \(problem), so the change was not sent"
        }
    }

    /// The gettoken errorCode worth reporting (never "0": that would read as a success).
    public var errorCode: String? {
        switch problem {
        case .httpStatus(_, let code, _): return code == "0" ? nil : code
        case .refused(let code, _): return code
        default: return nil
        }
    }

    /// gettoken's HTTP status, when one came.
    public var httpStatus: Int? {
        switch problem {
        case .httpStatus(let status, _, _), .unreadable(let status, _): return status
        default: return nil
        }
    }
}

/// docs/contract.md section 4's rules for one changeWorkMode answer.
public enum AttemptClassifier {
    /// Token missing or expired, token check failed: renew and send again.
    public static let tokenErrorCodes: Set<String> = ["900001", "900002"]
    /// OIFDE's internal errors: retried.
    public static let internalErrorCodes: Set<String> = ["10000001", "200900002"]

    /// The decision for one changeWorkMode answer, by docs/contract.md section 4's rules (transport errors, token codes, internal-error codes, then the
    /// HTTP status).
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
        case 300...399:
            // Redirects are not followed (a token must not travel to another host); retrying cannot help.
            let target = result.location.map { " redirect to \($0)" } ?? " (a redirect)"
            return .rejected(reason: "OIFDE answered HTTP \(status)\(target): check oifde.baseURL")
        case 200...299:
            guard result.bodyProblem == nil, let code else {
                // A 2xx without the documented answer is not an answer: treat it as transient.
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

    static func message(_ errorMsg: String?) -> String {
        guard let errorMsg, !errorMsg.isEmpty else { return "" }
        return ": " + DeadLetterAnnotation.oneLine(errorMsg, maxBytes: 200)
    }
}
