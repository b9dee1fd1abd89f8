/// One message to publish, for ``AMQPChannel/publish(_:)``, which hands several to the
/// connection thread at once.
public struct OutgoingMessage: Sendable {
    public var body: [UInt8]
    public var exchange: String
    public var routingKey: String
    /// The broker returns the message if no queue takes it.
    public var mandatory: Bool
    public var properties: MessageProperties

    public init(body: [UInt8], exchange: String, routingKey: String, mandatory: Bool = false, properties: MessageProperties = MessageProperties()) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
        self.properties = properties
    }
}
