import AMQP
import Foundation
import GatewayConfig
import Logging
import PipelineCore
import Synchronization
import Tracing
import WorkModeDomain

/// Publishing results and dead letters with confirms, and settling the delivery afterwards.
extension CommandProcessor {
    /// One message a command owes the broker: its result event, the `reply_to` copy, its dead letter.
    struct Owed {
        var body: [UInt8]
        var exchange: String
        var routingKey: String
        var mandatory: Bool
        var properties: MessageProperties
        var what: String
    }

    func owedMessages(event: [UInt8], status: CommandStatus, deadLetter: [JournalCompletion.DeadLetterHeader]?, received: Received) -> [Owed] {
        let topology = configuration.topology
        var headers: FieldTable = ["x-command-id": .string(received.commandId)]
        var contentType = "application/json"
        // A CloudEvents event (new, or stored in the journal when that was the format) carries its
        // attributes as the AMQP binding's application properties too.
        if let attributes = Self.cloudEventAttributes(event) {
            contentType = CloudEventEnvelope.contentType
            for (key, value) in attributes { headers[key] = .string(value) }
        }
        var properties = MessageProperties(
            contentType: contentType, headers: headers, deliveryMode: .persistent,
            correlationId: received.delivery.properties.correlationId, messageId: UUID().uuidString.lowercased(),
            timestamp: UInt64(Date().timeIntervalSince1970)
        )
        // Results go out without `mandatory`: an event nobody subscribed to is not an error.
        var owed = [
            Owed(
                body: event, exchange: topology.resultsExchange, routingKey: status.rawValue, mandatory: false, properties: properties,
                what: "result event")
        ]
        if let replyTo = received.delivery.properties.replyTo, !replyTo.isEmpty {
            properties.messageId = UUID().uuidString.lowercased()
            owed.append(Owed(body: event, exchange: "", routingKey: replyTo, mandatory: false, properties: properties, what: "reply_to copy"))
        }
        if let deadLetter, let failureClass = deadLetter.first(where: { $0.key == "x-failure-class" })?.string {
            var original = received.delivery.properties
            var headers = original.headers ?? FieldTable()
            for header in deadLetter {
                if let text = header.string {
                    headers[header.key] = .string(text)
                } else if let number = header.int {
                    headers[header.key] = .int64(number)
                } else if let flag = header.bool {
                    headers[header.key] = .bool(flag)
                }
            }
            original.headers = headers
            // Dead letters must route somewhere: with `mandatory`, one that routes nowhere comes back.
            owed.append(
                Owed(
                    body: received.delivery.body, exchange: topology.deadLetterExchange, routingKey: failureClass, mandatory: true,
                    properties: original, what: "dead letter"
                ))
        }
        return owed
    }

    /// How every structured-mode body the gateway writes begins.
    static let cloudEventPrefix = Array(#"{"specversion":"#.utf8)

    /// The `cloudEvents:` application properties of a structured-mode CloudEvents body; nil for a
    /// native event.
    static func cloudEventAttributes(_ event: [UInt8]) -> [(String, String)]? {
        guard event.starts(with: cloudEventPrefix), let object = FlatJSONObject(parsing: event) else { return nil }
        return ["specversion", "type", "source", "id", "subject", "time"].compactMap { name in
            object.string(name).map { ("cloudEvents:" + name, $0) }
        }
    }

    /// Publishes what the command owes and settles its delivery once the broker has confirmed it
    /// all (``SettlementDriver``): then `tail` (metrics, the log line) and `whenSettled` run, on the
    /// thread that brought the last confirm. Returns at once; with tracing on it waits, so the
    /// command's span covers the publish.
    func publishAndSettle(
        _ owed: [Owed], received: Received, session: BrokerSession, tail: @escaping @Sendable (_ published: Bool) -> Void,
        whenSettled: @escaping @Sendable () -> Void
    ) async {
        let ended: @Sendable (Bool) -> Void = { published in
            _ = self.settle(received, session: session, published: published)
            tail(published)
            whenSettled()
        }
        guard tracing else {
            SettlementDriver(owed: owed, session: session, processor: self, commandId: received.commandId, ended: ended).start()
            return
        }
        await traced("workmode.publish") { span in
            span?.attributes["workmode.dead_lettered"] = owed.contains { $0.exchange == configuration.topology.deadLetterExchange }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                SettlementDriver(owed: owed, session: session, processor: self, commandId: received.commandId) { published in
                    ended(published)
                    continuation.resume()
                }.start()
            }
        }
    }

    /// Acks once everything for the command is confirmed; otherwise requeues it. A tag from a
    /// session that has ended is void: the broker redelivers, and the journal absorbs it.
    func settle(_ received: Received, session: BrokerSession, published: Bool) -> Disposition {
        do {
            if published {
                try received.channel.ack(received.delivery)
                return .acked
            }
            if holdsReturns.load(ordering: .sequentiallyConsistent) { return .requeued }
            try received.channel.nack(received.delivery, requeue: true)
        } catch {
            logger.debug(
                "delivery not settled: its connection has ended; the broker will redeliver", metadata: ["commandId": "\(received.commandId)"])
        }
        return .requeued
    }
}
