/// One message to publish, for ``AMQPChannel/publish(_:)``, which hands several to the
/// connection thread at once.
public struct OutgoingMessage: Sendable {
    /// The message body, as is.
    public var body: [UInt8]
    /// The exchange to publish to ("" is the default exchange).
    public var exchange: String
    /// The routing key (a queue name on the default exchange).
    public var routingKey: String
    /// The broker returns the message if no queue takes it.
    public var mandatory: Bool
    /// The message's properties and headers.
    public var properties: MessageProperties

    /// A message to publish.
    public init(body: [UInt8], exchange: String, routingKey: String, mandatory: Bool = false, properties: MessageProperties = MessageProperties()) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.properties = properties
    }
}
