/// A message the broker delivered to a consumer or answered to `basic.get`.
///
/// Acknowledge it through the channel it came from: ``AMQPChannel/ack(_:multiple:)``.
public struct Delivery: Sendable {
    /// The message body as the publisher sent it.
    public let body: [UInt8]
    /// The message's basic properties and headers.
    public let properties: MessageProperties
    /// The tag to settle it with; void once its channel or connection has ended.
    public let tag: DeliveryTag
    /// Set when the broker delivered it before (a lost consumer, a requeue).
    public let redelivered: Bool
    /// The exchange it was published to (empty for the default exchange).
    public let exchange: String
    /// The routing key it was published with.
    public let routingKey: String
    /// Empty for `basic.get`.
    public let consumerTag: String
    /// Messages left in the queue, for `basic.get` only.
    public let messageCount: UInt32?
}

/// A delivery tag bound to the channel incarnation it was issued on.
///
/// Delivery tags die with their channel. A tag from a closed channel, or from an earlier connection,
/// is refused by the client rather than sent: the broker would close the channel (406) or the whole
/// connection (504) for it.
public struct DeliveryTag: Sendable, Hashable, CustomStringConvertible {
    /// The tag the broker assigned on that channel.
    public let value: UInt64
    /// Identifies the channel incarnation; never reused within the process.
    let channelIncarnation: UInt64

    /// `tag@incarnation`, for logs.
    public var description: String { "\(value)@\(channelIncarnation)" }
}
