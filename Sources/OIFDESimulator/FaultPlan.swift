/// A failure the simulator injects, set through `PUT /simulator/faults`.
public struct FaultPlan: Sendable, Hashable, Codable {
    /// Which endpoint a fault applies to.
    public enum Target: String, Sendable, Hashable, Codable {
        case changeWorkMode, gettoken, all
    }

    /// Extra delay before answering, in milliseconds.
    public var latencyMs: Int?
    /// Up to this many milliseconds more, at random, per request.
    public var latencyJitterMs: Int?
    /// Answer with this HTTP status (body `{"errorCode": errorCode ?? "10000001", ...}`).
    public var httpStatus: Int?
    /// Answer HTTP 200 (or `httpStatus`) with this errorCode.
    public var errorCode: String?
    /// The `errorMsg` of an injected errorCode answer.
    public var errorMsg: String?
    /// Sent as `Retry-After` (seconds).
    public var retryAfterSeconds: Int?
    /// Do not answer for this long (the client is expected to time out first).
    public var hangSeconds: Int?
    /// Drop the connection instead of answering.
    public var closeConnection: Bool?
    /// Answer with exactly this body (status `httpStatus`, else 200), e.g. a gettoken answer with
    /// no `authToken`, or a body that is not JSON.
    public var rawBody: String?
    /// Sent as `Location` (with a 3xx `httpStatus`).
    public var location: String?
    /// Send the body one byte every this many milliseconds (a server that trickles its answer).
    public var trickleIntervalMs: Int?
    /// Apply to the next N matching requests, then stop.
    public var count: Int?
    /// Apply to this fraction (0...1) of matching requests. Ignored when `count` is set.
    public var fraction: Double?
    /// Which endpoint the fault applies to; default `changeWorkMode`.
    public var target: Target?
    /// Apply for this many seconds from when the plan is set, then stop.
    public var forSeconds: Double?
    /// An outage: every matching request answers HTTP 503 for this many seconds (`httpStatus` 503
    /// and `forSeconds` in one field).
    public var outageSeconds: Double?
    /// A flapping OIFDE: the fault applies for this many seconds, then not for as many, and so on,
    /// from when the plan is set (`outageSeconds` or `forSeconds` bound the whole).
    public var flapSeconds: Double?
    /// A capacity: a request that arrives while this many are being answered gets HTTP 429 at once.
    public var maxConcurrent: Int?

    /// A fault; unset fields do not apply. See `PUT /simulator/faults`.
    public init(
        latencyMs: Int? = nil, httpStatus: Int? = nil, errorCode: String? = nil, errorMsg: String? = nil, retryAfterSeconds: Int? = nil,
        hangSeconds: Int? = nil, closeConnection: Bool? = nil, rawBody: String? = nil, location: String? = nil,
        trickleIntervalMs: Int? = nil, count: Int? = nil, fraction: Double? = nil, target: Target? = nil
    ) {
        self.rawBody = rawBody
        self.location = location
        self.trickleIntervalMs = trickleIntervalMs
        self.latencyMs = latencyMs
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.errorMsg = errorMsg
        self.retryAfterSeconds = retryAfterSeconds
        self.hangSeconds = hangSeconds
        self.closeConnection = closeConnection
        self.count = count
        self.fraction = fraction
        self.target = target
    }

    func applies(to endpoint: Target) -> Bool {
        let target = self.target ?? .changeWorkMode
        return target == .all || target == endpoint
    }
}
