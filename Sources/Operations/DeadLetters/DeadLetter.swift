import AMQP
import Foundation
import WorkModeDomain

/// A dead letter as the operator tools see it: what the gateway's headers (docs/contract.md section 6)
/// or the broker's own `x-death` (poison messages) say about it.
struct DeadLetter: Sendable {
    let delivery: Delivery
    /// Its offset in the dead-letter stream: what a settlement record names.
    var offset: Int64? = nil

    var headers: FieldTable { delivery.properties.headers ?? FieldTable() }

    /// invalid, rejected, exhausted, expired; `poison` for what the broker dead-lettered after too
    /// many deliveries (it has no failure headers, only its routing key).
    var failureClass: String {
        headers["x-failure-class"]?.stringValue ?? headers[Self.routingKeyHeader]?.stringValue ?? delivery.routingKey
    }

    /// The routing key a letter was dead-lettered with, kept by `dead-letters migrate` (the copy
    /// is published with the stream's name).
    static let routingKeyHeader = "x-dead-letter-routing-key"

    var reason: String {
        headers["x-failure-reason"]?.stringValue
            ?? (failureClass == "poison" ? "delivered too many times (broker delivery limit)" : "")
    }

    var messageId: String { delivery.properties.messageId ?? "" }

    /// What selects this dead letter: its message ID, or for one without, a hash of its body.
    var key: String {
        if !messageId.isEmpty { return messageId }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in delivery.body { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return "body-" + String(hash, radix: 16)
    }

    var tenantId: String? { FlatJSONObject(parsing: delivery.body)?.string("tenantId") }
    var callId: String? { FlatJSONObject(parsing: delivery.body)?.string("callId") }

    var redriveCount: Int { Int(headers["x-redrive-count"]?.intValue ?? 0) }

    /// When it was dead-lettered: the gateway's header, else the broker's `x-death` time.
    var deadLetteredAt: Date? {
        if let text = headers["x-dead-lettered-at"]?.stringValue, let date = RFC3339.parse(text) { return date }
        if case .array(let deaths)? = headers["x-death"], case .table(let first)? = deaths.first,
            case .timestamp(let seconds)? = first["time"]
        {
            return Date(timeIntervalSince1970: Double(seconds))
        }
        return nil
    }

    /// Where a replay sends it: where the gateway took it from, else where the broker's x-death
    /// says it came from, else the configured commands exchange and key.
    func origin(defaultExchange: String, defaultRoutingKey: String) -> (exchange: String, routingKey: String) {
        if let exchange = headers["x-original-exchange"]?.stringValue, let key = headers["x-original-routing-key"]?.stringValue {
            return (exchange, key)
        }
        if case .array(let deaths)? = headers["x-death"], case .table(let first)? = deaths.first,
            let exchange = first["exchange"]?.stringValue,
            case .array(let keys)? = first["routing-keys"], let key = keys.first?.stringValue
        {
            return (exchange, key)
        }
        return (defaultExchange, defaultRoutingKey)
    }

    /// The headers a replayed command carries: its own, without what its failure added, and one
    /// more redrive.
    func replayHeaders() -> FieldTable {
        var replay = FieldTable(
            headers.filter { !Self.failureHeaders.contains($0.key) && !$0.key.hasPrefix("x-first-death-") && !$0.key.hasPrefix("x-last-death-") })
        replay["x-redrive-count"] = .int64(Int64(redriveCount + 1))
        return replay
    }

    static let failureHeaders: Set<String> = [
        "x-failure-class", "x-failure-reason", "x-failure-error-code", "x-failure-http-status", "x-validation-errors", "x-attempts",
        "x-dead-lettered-at", "x-original-exchange", "x-original-routing-key", "x-death", "x-delivery-count", "x-redrive-count",
        "x-stream-offset", "x-in-doubt", routingKeyHeader,
    ]

    func line() -> String {
        let at = deadLetteredAt.map(RFC3339.format) ?? "-"
        return
            "\(at)  \(failureClass)  \(messageId.isEmpty ? "-" : messageId)  \(tenantId ?? "-")/\(callId ?? "-")  redrives=\(redriveCount)  \(reason)"
    }

    func json() -> String {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.member("messageId", messageId.isEmpty ? nil : messageId)
        writer.member("offset", offset.map(Int.init))
        writer.member("class", failureClass)
        writer.member("reason", reason)
        writer.member("tenantId", tenantId)
        writer.member("callId", callId)
        writer.member("deadLetteredAt", deadLetteredAt.map(RFC3339.format))
        writer.member("redriveCount", redriveCount)
        writer.member("errorCode", headers["x-failure-error-code"]?.stringValue)
        writer.member("body", String(decoding: delivery.body, as: UTF8.self))
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// Which dead letters a command acts on.
public struct DeadLetterFilter: Sendable {
    /// `--class`.
    public var failureClass: String?
    /// `--tenant`.
    public var tenantId: String?
    /// `--since`.
    public var since: Date?
    /// Free text, matched case-insensitively against the message ID, class, reason, tenant, call
    /// and body (the console's search box).
    public var text: String?
    /// Only these dead letters, by message ID (or `body-…` key): a selection made in the console.
    public var keys: Set<String>?

    /// Matches dead letters of `failureClass` (any when nil), `tenantId`, dead-lettered at or after
    /// `since`, containing `text`, and among `keys`.
    public init(failureClass: String? = nil, tenantId: String? = nil, since: Date? = nil, text: String? = nil, keys: Set<String>? = nil) {
        self.failureClass = failureClass
        self.tenantId = tenantId
        self.since = since
        self.text = text
        self.keys = keys
    }

    /// The classes a dead letter can have: the gateway's four and the broker's `poison`.
    public static let classes = ["invalid", "rejected", "exhausted", "expired", "poison"]

    /// `--class`, checked: a typo must not match nothing and report success.
    public static func parseClass(_ text: String) throws(OperatorError) -> String {
        guard classes.contains(text) else { throw OperatorError(.usage, "--class \(text): not one of \(classes.joined(separator: ", "))") }
        return text
    }

    /// `--since`: an RFC 3339 time, or a duration back from now (`1h`, `30m`).
    public static func parseSince(_ text: String, now: Date = Date()) throws(OperatorError) -> Date {
        if let date = RFC3339.parse(text) { return date }
        if let duration = DurationText.parse(text) { return now.addingTimeInterval(-duration.timeInterval) }
        throw OperatorError(.usage, "--since \(text): not an RFC 3339 time nor a duration (1h, 30m)")
    }

    func matches(_ letter: DeadLetter) -> Bool {
        if let keys, !keys.contains(letter.key) { return false }
        if let failureClass, letter.failureClass != failureClass { return false }
        if let tenantId, letter.tenantId != tenantId { return false }
        if let since {
            guard let at = letter.deadLetteredAt, at >= since else { return false }
        }
        if let text, !text.isEmpty {
            let haystack =
                [letter.messageId, letter.failureClass, letter.reason, letter.tenantId ?? "", letter.callId ?? ""]
                + [String(decoding: letter.delivery.body, as: UTF8.self)]
            guard haystack.contains(where: { $0.localizedCaseInsensitiveContains(text) }) else { return false }
        }
        return true
    }
}
