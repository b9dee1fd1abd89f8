/// Where a transfer goes (OIFDE `callTransferType`), and what its route value means.
public enum CallTransferType: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case skillQueueByRouteCode = 1
    case ivrFlow = 2
    case skillQueueByName = 3
    case agent = 4
    case thirdPartyNumber = 5
    case onlineDigitalAssistance = 6
    /// Multimedia only. Takes no route value.
    case lastAgent = 7
    /// Multimedia only.
    case agentSkillQueue = 8
    /// Takes no route value.
    case multimediaMessageLastAgent = 31
    case multimediaMessageSkillQueue = 32
    case multimediaMessageAgent = 33

    /// As OIFDE wants it: the number as a string.
    public var wireValue: String { String(rawValue) }

    /// Types 7 and 31 route by themselves; their route value must be absent or empty.
    public var takesRouteValue: Bool { self != .lastAgent && self != .multimediaMessageLastAgent }

    /// What `callTransferRouteValue` holds for this type.
    public var routeValueMeaning: String {
        switch self {
        case .skillQueueByRouteCode: return "route code of a skill queue"
        case .ivrFlow: return "IVR flow access code"
        case .skillQueueByName: return "skill queue name"
        case .agent: return "agent ID"
        case .thirdPartyNumber: return "third-party phone number"
        case .onlineDigitalAssistance: return "route code agreed with a third-party system"
        case .lastAgent: return "none (transfer to the last agent, multimedia only)"
        case .agentSkillQueue: return "agent ID or variable (multimedia only)"
        case .multimediaMessageLastAgent: return "none (multimedia message to the last agent)"
        case .multimediaMessageSkillQueue: return "skill queue name or access code"
        case .multimediaMessageAgent: return "agent ID or variable"
        }
    }

    /// `5 (third-party number)`.
    public var description: String { "\(rawValue) (\(routeValueMeaning))" }
}
