import AMQP
import Foundation
import WorkModeDomain

/// One dead letter as the console shows it: what the CLI's `list` prints, plus its body,
/// properties and headers, every credential masked.
public struct DeadLetterRecord: Sendable {
    /// What selects it for replay or purge: its message ID, or `body-…` for one without.
    public let key: String
    /// Its message ID ("" when it has none).
    public let messageId: String
    /// invalid, rejected, exhausted, expired or poison.
    public let failureClass: String
    /// Why it was dead-lettered.
    public let reason: String
    /// The command's tenantId, when its body has one.
    public let tenantId: String?
    /// The command's callId, when its body has one.
    public let callId: String?
    /// When it was dead-lettered.
    public let deadLetteredAt: Date?
    /// How often it has been replayed.
    public let redriveCount: Int
    /// OIFDE's errorCode, for rejected commands.
    public let errorCode: String?
    /// The body as text (invalid UTF-8 replaced), secrets masked.
    public let body: String
    /// The AMQP properties that are set, by name, as text.
    public let properties: [(name: String, value: String)]
    /// The headers as JSON text (nested tables and `x-death` arrays kept), secret values masked.
    public let headersJSON: String

    init(_ letter: DeadLetter) {
        key = letter.key
        messageId = letter.messageId
        failureClass = letter.failureClass
        reason = letter.reason
        tenantId = letter.tenantId
        callId = letter.callId
        deadLetteredAt = letter.deadLetteredAt
        redriveCount = letter.redriveCount
        errorCode = letter.headers["x-failure-error-code"]?.stringValue
        body = SecretMask.maskJSON(String(decoding: letter.delivery.body, as: UTF8.self))
        let p = letter.delivery.properties
        let named: [(String, String?)] = [
            ("message_id", p.messageId), ("correlation_id", p.correlationId), ("content_type", p.contentType),
            ("content_encoding", p.contentEncoding), ("delivery_mode", p.deliveryMode.map { "\($0)" }),
            ("timestamp", p.timestamp.map { RFC3339.format(Date(timeIntervalSince1970: Double($0))) }), ("type", p.type),
            ("app_id", p.appId), ("user_id", p.userId), ("reply_to", p.replyTo), ("expiration", p.expiration),
            ("priority", p.priority.map { "\($0)" }), ("routing_key", letter.delivery.routingKey), ("exchange", letter.delivery.exchange),
        ]
        properties = named.compactMap { name, value in value.map { (name, $0) } }
        headersJSON = Self.json(.table(letter.headers))
    }

    /// A field value as JSON, with the value of every secret-named key masked.
    static func json(_ value: FieldValue) -> String {
        switch value {
        case .table(let table):
            let members = table.map { entry in
                "\(quote(entry.key)):" + (SecretMask.isSecretName(entry.key) ? quote(SecretMask.masked) : json(entry.value))
            }
            return "{" + members.joined(separator: ",") + "}"
        case .array(let values): return "[" + values.map(json).joined(separator: ",") + "]"
        case .string(let text): return quote(text)
        case .bool(let flag): return flag ? "true" : "false"
        case .timestamp(let seconds): return quote(RFC3339.format(Date(timeIntervalSince1970: Double(seconds))))
        case .bytes(let bytes): return quote(String(decoding: bytes, as: UTF8.self))
        case .double(let number): return number.isFinite ? "\(number)" : quote("\(number)")
        case .float(let number): return number.isFinite ? "\(number)" : quote("\(number)")
        case .void: return "null"
        default: return value.intValue.map { "\($0)" } ?? quote("\(value)")
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"  // never markup, even if pasted into a page as it is
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
