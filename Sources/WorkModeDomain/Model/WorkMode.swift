/// The flow state a command switches a call to (OIFDE `workMode`).
public enum WorkMode: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The session is no longer controlled by the silent agent.
    case common = 0
    /// The silent agent supervises the session.
    case supervision = 1
    /// The silent agent takes part in the session.
    case insertion = 2
    /// The call is transferred; needs a ``CallTransferRequest``.
    case transfer = 3

    /// The wire form: OIFDE takes every value as a string.
    public var wireValue: String { String(rawValue) }

    /// `2 (insertion)`.
    public var description: String {
        switch self {
        case .common: return "common"
        case .supervision: return "supervision"
        case .insertion: return "insertion"
        case .transfer: return "transfer"
        }
    }
}
