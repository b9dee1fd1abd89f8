/// A result event as a CloudEvents 1.0 event in structured mode (`results.format: cloudevents`):
/// the native event is its `data`, so consumers that know the native format read the same members.
public struct CloudEventEnvelope: Sendable, Hashable {
    /// The media type of a structured-mode event (the message's `content_type`).
    public static let contentType = "application/cloudevents+json"
    /// The CloudEvents version written.
    public static let specVersion = "1.0"

    /// `com.workmode-gateway.result.<status>`.
    public let type: String
    /// `results.source`: who produced it (a URI reference).
    public let source: String
    /// The command's ID, plus `#redrive-N` for a replayed life, so each life's event is distinct.
    public let id: String
    /// `<tenantId>/<callId>`, when both are known.
    public let subject: String?
    /// When the command ended (RFC 3339).
    public let time: String

    /// The envelope of `event`; `redrives` is the command's `x-redrive-count`.
    public init(event: ResultEvent, source: String, redrives: Int) {
        type = "com.workmode-gateway.result." + event.status.rawValue
        self.source = source
        id = redrives > 0 ? event.commandId + "#redrive-" + String(redrives) : event.commandId
        if let tenant = event.tenantId, let call = event.callId { subject = tenant + "/" + call } else { subject = nil }
        time = RFC3339.format(event.completedAt)
    }

    /// The structured-mode body: the envelope's attributes and `data`, the native event's JSON.
    public func body(data: [UInt8]) -> [UInt8] {
        var writer = JSONWriter(capacity: data.count + 256)
        writer.beginObject()
        writer.member("specversion", Self.specVersion)
        writer.member("type", type)
        writer.member("source", source)
        writer.member("id", id)
        writer.member("subject", subject)
        writer.member("time", time)
        writer.member("datacontenttype", "application/json")
        writer.member("data", json: data)
        writer.endObject()
        return writer.bytes
    }

    /// The AMQP binding's application properties (`cloudEvents:` prefix), also set in structured
    /// mode so a router can read the attributes without parsing the body.
    public var applicationProperties: [(key: String, value: String)] {
        var properties = [
            ("cloudEvents:specversion", Self.specVersion), ("cloudEvents:type", type), ("cloudEvents:source", source), ("cloudEvents:id", id),
            ("cloudEvents:time", time),
        ]
        if let subject { properties.append(("cloudEvents:subject", subject)) }
        return properties
    }
}
