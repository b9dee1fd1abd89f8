import Foundation

/// The one event announcing how a command ended (docs/contract.md section 5).
public struct ResultEvent: Sendable, Hashable {
    /// The command's ID (its `message_id`, or a UUID when it had none).
    public var commandId: String
    /// The command's `correlation_id`.
    public var correlationId: String?
    /// How it ended (also the routing key).
    public var status: CommandStatus
    /// From the command, when it could be read.
    public var tenantId: String?
    /// From the command, when it could be read.
    public var callId: String?
    /// From the command, when it could be read.
    public var agentId: String?
    /// The requested mode as on the wire (`"0"`…`"3"`).
    public var workMode: String?
    /// changeWorkMode's errorCode.
    public var errorCode: String?
    /// changeWorkMode's errorMsg.
    public var errorMsg: String?
    /// The last HTTP status of changeWorkMode.
    public var httpStatus: Int?
    /// Attempts made.
    public var attempts: Int
    /// Validation problems (empty unless `invalid`).
    public var errors: [ValidationError]
    /// When the gateway received it.
    public var receivedAt: Date
    /// When it ended.
    public var completedAt: Date
    /// OIFDE may or may not have applied an earlier attempt: the process died while it was in flight.
    public var inDoubt: Bool
    /// Why a command did not succeed, in one line (the dead letter's `x-failure-reason`).
    public var reason: String?
    /// With `inDoubt`: which attempt's outcome was unknown and why, or the redelivery the journal
    /// could not vouch for.
    public var inDoubtReason: String?

    /// A result event; `reason` is set separately, for every status but `succeeded`.
    public init(
        commandId: String, correlationId: String? = nil, status: CommandStatus, tenantId: String? = nil, callId: String? = nil,
        agentId: String? = nil, workMode: String? = nil, errorCode: String? = nil, errorMsg: String? = nil, httpStatus: Int? = nil,
        attempts: Int, errors: [ValidationError] = [], receivedAt: Date, completedAt: Date, inDoubt: Bool = false
    ) {
        self.commandId = commandId
        self.correlationId = correlationId
        self.status = status
        self.tenantId = tenantId
        self.callId = callId
        self.agentId = agentId
        self.workMode = workMode
        self.errorCode = errorCode
        self.errorMsg = errorMsg
        self.httpStatus = httpStatus
        self.attempts = attempts
        self.errors = errors
        self.receivedAt = receivedAt
        self.completedAt = completedAt
        self.inDoubt = inDoubt
    }

    /// `completedAt` − `receivedAt`, in milliseconds.
    public var durationMs: Double { completedAt.timeIntervalSince(receivedAt) * 1000 }

    /// The event body. Fields that do not apply are omitted; `errors` is always present.
    public func jsonBytes() -> [UInt8] {
        var writer = JSONWriter(capacity: 384)
        writer.beginObject()
        writer.member("commandId", commandId)
        writer.member("correlationId", correlationId)
        writer.member("status", status.rawValue)
        writer.member("tenantId", tenantId)
        writer.member("callId", callId)
        writer.member("agentId", agentId)
        writer.member("workMode", workMode)
        writer.member("errorCode", errorCode)
        writer.member("errorMsg", errorMsg)
        writer.member("httpStatus", httpStatus)
        writer.member("attempts", attempts)
        writer.beginArray("errors")
        for error in errors { writer.write(error) }
        writer.endArray()
        writer.member("receivedAt", RFC3339.format(receivedAt))
        writer.member("completedAt", RFC3339.format(completedAt))
        writer.member("durationMs", tenths: durationMs)
        if status != .succeeded {
            writer.member("reason", reason.map { DeadLetterAnnotation.oneLine($0, maxBytes: DeadLetterAnnotation.maxReasonBytes) })
        }
        if inDoubt {
            writer.member("inDoubt", true)
            writer.member(
                "inDoubtReason", inDoubtReason.map { DeadLetterAnnotation.oneLine($0, maxBytes: DeadLetterAnnotation.maxReasonBytes) })
        }
        writer.endObject()
        return writer.bytes
    }
}

extension JSONWriter {
    mutating func write(_ error: ValidationError) {
        beginObject()
        member("pointer", error.pointer)
        member("code", error.code.rawValue)
        member("message", error.message)
        endObject()
    }
}
