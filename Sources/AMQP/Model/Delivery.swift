/// A message the broker delivered to a consumer or answered to `basic.get`.
///
/// Acknowledge it through the channel it came from: ``AMQPChannel/ack(_:multiple:)``.
public struct Delivery: Sendable {
    public let body: [UInt8]
    public let properties: MessageProperties
    public let tag: DeliveryTag
    public let redelivered: Bool
    public let exchange: String
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

    public var description: String { "\(value)@\(channelIncarnation)" }
}
