import AMQP
import Foundation
import Logging
import WorkModeDomain

/// Publishing results and dead letters with confirms, and settling the delivery afterwards.
extension CommandProcessor {
    /// Publishes the result event (and its `reply_to` copy), and the dead letter when there is one;
    /// true only when the broker confirmed all of them and routed the dead letter.
    func publish(
        event: [UInt8], status: CommandStatus, deadLetter: [JournalCompletion.DeadLetterHeader]?, received: Received, session: BrokerSession
    ) async -> Bool {
        let topology = configuration.topology
        do {
            let channel = try await session.publishingChannel()
            var properties = MessageProperties(
                contentType: "application/json", headers: ["x-command-id": .string(received.commandId)], deliveryMode: .persistent,
                correlationId: received.delivery.properties.correlationId, messageId: UUID().uuidString.lowercased(),
                timestamp: UInt64(Date().timeIntervalSince1970)
            )
            // Results go out without `mandatory`: an event nobody subscribed to is not an error.
            var confirmations = [try channel.publish(event, exchange: topology.resultsExchange, routingKey: status.rawValue, properties: properties)]
            if let replyTo = received.delivery.properties.replyTo, !replyTo.isEmpty {
                properties.messageId = UUID().uuidString.lowercased()
                confirmations.append(try channel.publish(event, exchange: "", routingKey: replyTo, properties: properties))
            }
            var deadLetterConfirmation: PublishConfirmation?
            if let deadLetter, let failureClass = deadLetter.first(where: { $0.key == "x-failure-class" })?.string {
                var original = received.delivery.properties
                var headers = original.headers ?? FieldTable()
                for header in deadLetter {
                    if let text = header.string { headers[header.key] = .string(text) } else if let number = header.int { headers[header.key] = .int64(number) }
                }
                original.headers = headers
                // Dead letters must route somewhere: with `mandatory`, one that routes nowhere comes back.
                deadLetterConfirmation = try channel.publish(
                    received.delivery.body, exchange: topology.deadLetterExchange, routingKey: failureClass, mandatory: true, properties: original
                )
            }
            for confirmation in confirmations {
                let outcome = try await confirmation.outcome()
                guard outcome == .acked else {
                    logger.error("the broker did not take a result event", metadata: ["commandId": "\(received.commandId)", "outcome": "\(outcome)"])
                    return false
                }
            }
            if let deadLetterConfirmation {
                let outcome = try await deadLetterConfirmation.outcome()
                guard outcome == .acked else {
                    logger.error(
                        "dead letter not accepted (is the dead-letter queue bound?); the command goes back to the queue",
                        metadata: ["commandId": "\(received.commandId)", "outcome": "\(outcome)"]
                    )
                    return false
                }
            }
            return true
        } catch {
            logger.warning("publishing the result failed; the command goes back to the queue", metadata: ["commandId": "\(received.commandId)", "error": "\(error)"])
            return false
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
            logger.debug("delivery not settled: its connection has ended; the broker will redeliver", metadata: ["commandId": "\(received.commandId)"])
        }
        return .requeued
    }
}
