/// The basic-class content properties of a message. `nil` means absent on the wire.
public struct MessageProperties: Sendable, Hashable {
    /// MIME type of the body (`application/json` for commands and results).
    public var contentType: String?
    /// Content encoding of the body, if any.
    public var contentEncoding: String?
    /// Application headers (`x-deadline`, `traceparent`, the `x-failure-*` headers of dead letters, …).
    public var headers: FieldTable?
    /// Persistent messages survive a broker restart on durable queues.
    public var deliveryMode: DeliveryMode?
    /// Priority 0-9 (ignored by quorum queues).
    public var priority: UInt8?
    /// Copied into the result event, so a publisher can match it.
    public var correlationId: String?
    /// A queue name: the result event is also published there, through the default exchange.
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (the protocol's own type).
    public var expiration: String?
    /// The command's ID and idempotency key.
    public var messageId: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    /// The message type name, if any.
    public var type: String?
    /// The user the broker checks the publisher against, if set.
    public var userId: String?
    /// The publishing application (`workmode-gateway publish` for batch files).
    public var appId: String?
    /// Deprecated in AMQP 0-9-1; kept for round trips.
    public var clusterId: String?

    /// Basic properties; every one is optional on the wire and nil leaves it unset.
    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: FieldTable? = nil,
        deliveryMode: DeliveryMode? = nil,
        priority: UInt8? = nil,
        correlationId: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageId: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userId: String? = nil,
        appId: String? = nil,
        clusterId: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageId = messageId
        self.timestamp = timestamp
        self.type = type
        self.userId = userId
        self.appId = appId
        self.clusterId = clusterId
    }
}

/// Whether the broker writes a message to disk.
public struct DeliveryMode: Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public let rawValue: UInt8
    /// A delivery mode by its wire value (1 transient, 2 persistent).
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Kept in memory only.
    public static let transient = DeliveryMode(rawValue: 1)
    /// Written to disk on durable queues.
    public static let persistent = DeliveryMode(rawValue: 2)

    /// `transient` or `persistent`.
    public var description: String {
        switch rawValue {
        case 1: return "transient"
        case 2: return "persistent"
        default: return "delivery-mode(\(rawValue))"
        }
    }
}
