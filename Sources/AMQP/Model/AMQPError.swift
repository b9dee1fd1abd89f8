/// Everything the AMQP client reports as a failure.
public enum AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL could not be understood; the string says what is wrong.
    case invalidURL(String)
    /// The connection could not be established (DNS, TCP, TLS, protocol handshake).
    case connectFailed(String)
    /// The broker refused the credentials or the virtual host.
    case loginRefused(String)
    /// The broker closed the connection (`connection.close`), with its reply code and text.
    case connectionClosedByBroker(code: UInt16, text: String)
    /// The transport failed: socket error, heartbeat timeout, protocol violation.
    case connectionLost(String)
    /// The broker closed the channel (`channel.close`), with its reply code and text.
    case channelClosed(code: UInt16, text: String)
    /// This client closed the connection or channel.
    case closedByClient
    /// The broker cancelled the consumer (its queue was deleted, or its leader was lost).
    case consumerCancelled(consumerTag: String)
    /// A delivery tag from a closed channel or an earlier connection; nothing was sent.
    case staleDeliveryTag(DeliveryTag)
    /// `publish` needs a channel opened with publisher confirms.
    case confirmsNotEnabled
    /// The caller passed something the protocol cannot carry.
    case invalidArgument(String)

    /// One line for logs; never contains the password.
    public var description: String {
        switch self {
        case .invalidURL(let why): return "invalid AMQP URL: \(why)"
        case .connectFailed(let why): return "cannot connect to the broker: \(why)"
        case .loginRefused(let why): return "the broker refused the login: \(why)"
        case .connectionClosedByBroker(let code, let text): return "the broker closed the connection: \(code) \(text)"
        case .connectionLost(let why): return "the broker connection was lost: \(why)"
        case .channelClosed(let code, let text): return "the broker closed the channel: \(code) \(text)"
        case .closedByClient: return "the connection or channel was closed by this client"
        case .consumerCancelled(let tag): return "the broker cancelled consumer \(tag)"
        case .staleDeliveryTag(let tag): return "delivery tag \(tag) belongs to a closed channel; not sent"
        case .confirmsNotEnabled: return "publishing needs a channel with publisher confirms"
        case .invalidArgument(let why): return "invalid argument: \(why)"
        }
    }

    /// The AMQP reply code, when the broker gave one.
    public var replyCode: UInt16? {
        switch self {
        case .connectionClosedByBroker(let code, _), .channelClosed(let code, _): return code
        default: return nil
        }
    }
}
