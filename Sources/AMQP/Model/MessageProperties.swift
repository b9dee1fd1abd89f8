/// The basic-class content properties of a message. `nil` means absent on the wire.
public struct MessageProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: FieldTable?
    public var deliveryMode: DeliveryMode?
    public var priority: UInt8?
    public var correlationId: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (the protocol's own type).
    public var expiration: String?
    public var messageId: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userId: String?
    public var appId: String?
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
    public let rawValue: UInt8
    /// A delivery mode by its wire value (1 transient, 2 persistent).
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let transient = DeliveryMode(rawValue: 1)
    public static let persistent = DeliveryMode(rawValue: 2)

    public var description: String {
        switch rawValue {
        case 1: return "transient"
        case 2: return "persistent"
        default: return "delivery-mode(\(rawValue))"
        }
    }
}
