/// How the broker answered a publish on a channel in confirm mode.
public enum PublishOutcome: Sendable, Hashable {
    /// The broker took responsibility for the message (persisted or routed as configured).
    case acked
    /// The broker refused the message (for example `x-overflow: reject-publish` on a full queue).
    case nacked
    /// A `mandatory` message that no queue took; the broker sent it back.
    case returned(replyCode: UInt16, replyText: String)

    /// True for `.acked`.
    public var isAcked: Bool { self == .acked }
}

/// The broker's side of `queue.declare-ok`.
public struct QueueInfo: Sendable, Hashable {
    /// The queue's name (the broker's, for a server-named queue).
    public let name: String
    /// Messages ready in it.
    public let messageCount: UInt32
    /// Consumers on it.
    public let consumerCount: UInt32
}

/// Exchange kinds RabbitMQ ships; any other name is allowed through ``init(rawValue:)``.
public struct ExchangeType: Sendable, Hashable, CustomStringConvertible {
    /// The type's name as the broker knows it.
    public let rawValue: String
    /// An exchange type by name (a plugin's, such as `x-consistent-hash`).
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Routes by exact routing key.
    public static let direct = ExchangeType(rawValue: "direct")
    /// Routes by routing-key pattern (`*`, `#`).
    public static let topic = ExchangeType(rawValue: "topic")
    /// Routes to every bound queue.
    public static let fanout = ExchangeType(rawValue: "fanout")
    /// Routes by header values.
    public static let headers = ExchangeType(rawValue: "headers")

    /// The type's name.
    public var description: String { rawValue }
}

/// What the broker signals about the connection as a whole.
public enum ConnectionEvent: Sendable, Hashable {
    /// The broker stopped reading from publishers (resource alarm); publishing would block.
    case blocked(reason: String)
    case unblocked
}
