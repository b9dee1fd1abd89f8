/// Transfer parameters, present exactly when the work mode is ``WorkMode/transfer``.
public struct CallTransferRequest: Sendable, Hashable {
    /// `callTransferType`.
    public var type: CallTransferType
    /// `nil` for the types that take none (7, 31).
    public var routeValue: String?
    /// Channel-associated data passed along with the transfer.
    public var transData: String?
    /// The calling number presented on a transfer to a third-party number.
    public var callingNumber: String?

    /// A transfer target; `routeValue` is nil for the types that take none (7 and 31).
    public init(type: CallTransferType, routeValue: String?, transData: String? = nil, callingNumber: String? = nil) {
        self.type = type
        self.routeValue = routeValue
        self.transData = transData
        self.callingNumber = callingNumber
    }
}

/// A validated work-mode change command, as consumed from the queue.
public struct WorkModeCommand: Sendable, Hashable {
    /// The tenant (also the appKey for gettoken).
    public var tenantId: String
    /// The call's session ID.
    public var callId: String
    /// The (silent) agent.
    public var agentId: String
    /// The mode to switch to.
    public var workMode: WorkMode
    /// The transfer target, exactly when `workMode` is transfer.
    public var callTransferRequest: CallTransferRequest?
    /// Only in passthrough mode, where the publisher owns the credentials. Never logged.
    public var authToken: String?

    /// A command as validated; `authToken` only in passthrough mode.
    public init(
        tenantId: String, callId: String, agentId: String, workMode: WorkMode, callTransferRequest: CallTransferRequest? = nil,
        authToken: String? = nil
    ) {
        self.tenantId = tenantId
        self.callId = callId
        self.agentId = agentId
        self.workMode = workMode
        self.callTransferRequest = callTransferRequest
        self.authToken = authToken
    }

    /// Commands with the same lane key are applied strictly in order.
    public var laneKey: String { "\(tenantId)\u{1F}\(callId)" }

    /// The `x-call-key` header's value (`<tenantId>/<callId>`): a call's commands hash to one
    /// partition, so one consumer applies them in order.
    public var callKey: String { "\(tenantId)/\(callId)" }
}

extension WorkModeCommand: CustomStringConvertible {
    /// Safe for logs: the auth token is never part of it.
    public var description: String {
        "WorkModeCommand(tenant: \(tenantId), call: \(callId), agent: \(agentId), workMode: \(workMode.rawValue)"
            + (callTransferRequest.map { ", transferType: \($0.type.rawValue)" } ?? "") + ")"
    }
}
