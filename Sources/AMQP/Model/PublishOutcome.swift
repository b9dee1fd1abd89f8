/// How the broker answered a publish on a channel in confirm mode.
public enum PublishOutcome: Sendable, Hashable {
    /// The broker took responsibility for the message (persisted or routed as configured).
    case acked
    /// The broker refused the message (for example `x-overflow: reject-publish` on a full queue).
    case nacked
    /// A `mandatory` message that no queue took; the broker sent it back.
    case returned(replyCode: UInt16, replyText: String)

    public var isAcked: Bool { self == .acked }
}

/// The broker's side of `queue.declare-ok`.
public struct QueueInfo: Sendable, Hashable {
    public let name: String
    public let messageCount: UInt32
    public let consumerCount: UInt32
}

/// Exchange kinds RabbitMQ ships; any other name is allowed through ``init(rawValue:)``.
public struct ExchangeType: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    /// An exchange type by name (a plugin's, such as `x-consistent-hash`).
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let direct = ExchangeType(rawValue: "direct")
    public static let topic = ExchangeType(rawValue: "topic")
    public static let fanout = ExchangeType(rawValue: "fanout")
    public static let headers = ExchangeType(rawValue: "headers")

    public var description: String { rawValue }
}

/// What the broker signals about the connection as a whole.
public enum ConnectionEvent: Sendable, Hashable {
    /// The broker stopped reading from publishers (resource alarm); publishing would block.
    case blocked(reason: String)
    case unblocked
}
