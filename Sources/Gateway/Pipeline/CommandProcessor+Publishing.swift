import AMQP
import Foundation
import GatewayConfig
import Logging
import PipelineCore
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

    /// Publishes what the command owes and waits for the confirms, as ``Settlement`` (PipelineCore)
    /// says: what the broker refuses is published again with backoff, holding a ``Pauses`` entry
    /// so no new command starts, until the broker takes it or the session ends; the outcome is
    /// known (journaled), so the command is never requeued to be forwarded again. True when
    /// everything was confirmed (ack the delivery); false to requeue it.
    func publish(
        event: [UInt8], status: CommandStatus, deadLetter: [JournalCompletion.DeadLetterHeader]?, received: Received, session: BrokerSession
    ) async -> Bool {
        let owed = owedMessages(event: event, status: status, deadLetter: deadLetter, received: received)
        var settlement = Settlement(owed: owed.count)
        var paused = false
        var action = settlement.start()
        var refusal = ""
        defer { if paused { pauses.leave(.publish, recovered: action == .ack) } }
        while true {
            switch action {
            case .ack:
                return true
            case .requeue:
                return false
            case .publish(let indices):
                let round = await publishRound(indices, of: owed, settlement: &settlement, session: session)
                action = round.next
                if let why = round.refused { refusal = why }
                if action == .requeue {
                    logger.warning(
                        "publishing the result failed; the command goes back to the queue",
                        metadata: ["commandId": "\(received.commandId)", "error": "\(round.lost ?? "")"])
                }
            case .pause(let failures):
                if !paused {
                    paused = true
                    pauses.enter(.publish, detail: refusal)
                    logger.error(
                        "the broker refused a publish; holding the command and publishing again",
                        metadata: ["commandId": "\(received.commandId)", "refused": "\(refusal)"])
                }
                let slept: Bool
                do {
                    try await Task.sleep(for: Self.pauseDelay(failures: failures))
                    slept = true
                } catch { slept = false }
                action = slept && session.isOpen ? settlement.resumed() : (settlement.lost() ?? .requeue)
            }
        }
    }

    /// Publishes the owed messages `indices`, then hands each confirm to `settlement` in turn.
    /// Returns its answer, with why the broker refused (a refused round) or what failed (a lost one).
    private func publishRound(
        _ indices: [Int], of owed: [Owed], settlement: inout Settlement, session: BrokerSession
    ) async -> (next: Settlement.Action, refused: String?, lost: String?) {
        do {
            let channel = try await session.publishingChannel()
            var pending: [(Int, PublishConfirmation)] = []
            for index in indices {
                let message = owed[index]
                var properties = message.properties
                if message.exchange != configuration.topology.deadLetterExchange { properties.timestamp = UInt64(Date().timeIntervalSince1970) }
                pending.append(
                    (
                        index,
                        try channel.publish(
                            message.body, exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory,
                            properties: properties
                        )
                    ))
            }
            var why: String?
            for (index, confirmation) in pending {
                let confirm: Settlement.Confirm
                switch try await confirmation.outcome() {
                case .acked:
                    confirm = .acked
                case .nacked:
                    confirm = .refused
                    why = "\(owed[index].what) nacked by the broker (a full queue with x-overflow reject-publish?)"
                case .returned(let code, let text):
                    confirm = .refused
                    why = "\(owed[index].what) returned unroutable (\(code) \(text)): is the dead-letter queue bound?"
                }
                if let next = settlement.confirmed(index, confirm) { return (next, why, nil) }
            }
            // Every confirm of a round answers; reaching here means the round was empty.
            return (settlement.lost() ?? .requeue, why, "no confirm answered the round")
        } catch {
            return (settlement.lost() ?? .requeue, nil, "\(error)")
        }
    }

    func republish(_ stored: JournalCompletion, received: Received, session: BrokerSession) async -> Bool {
        await publish(
            event: stored.event, status: CommandStatus(rawValue: stored.status) ?? .failed, deadLetter: stored.deadLetter,
            received: received, session: session
        )
    }

    /// Acks once everything for the command is confirmed; otherwise requeues it. A tag from a
    /// session that has ended is void: the broker redelivers, and the journal absorbs it.
    func settle(_ received: Received, session: BrokerSession, published: Bool) -> Disposition {
        do {
            if published {
                try session.consumerChannel.ack(received.delivery)
                return .acked
            }
            try session.consumerChannel.nack(received.delivery, requeue: true)
        } catch {
            logger.debug(
                "delivery not settled: its connection has ended; the broker will redeliver", metadata: ["commandId": "\(received.commandId)"])
        }
        return .requeued
    }
}
