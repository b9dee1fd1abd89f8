import AMQP
import Foundation
import Testing

/// Several queues consumed into one sequence (the gateway's partitions): every queue's
/// deliveries arrive, acks work per delivery, and one cancel stops them all.
@Suite(.timeLimit(.minutes(10))) struct JoinedConsumerTests {
    @Test func joinedConsumersDeliverEveryQueueIntoOneSequenceAndCancelTogether() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queues = [
            try await channel.temporaryQueue("joined"), try await channel.temporaryQueue("joined"), try await channel.temporaryQueue("joined"),
        ]
        for (index, queue) in queues.enumerated() {
            for message in 0..<5 {
                let outcome = try await channel.publishAndConfirm(Array("\(index)-\(message)".utf8), exchange: "", routingKey: queue)
                #expect(outcome == .acked)
            }
        }
        let consumer = try await channel.consume(queue: queues[0])
        for queue in queues.dropFirst() { try await channel.consume(queue: queue, joining: consumer) }
        #expect(consumer.tags.count == 3)
        var bodies: [String] = []
        var iterator = consumer.makeAsyncIterator()
        while bodies.count < 15, let delivery = try await iterator.next() {
            bodies.append(String(decoding: delivery.body, as: UTF8.self))
            #expect(consumer.tags.contains(delivery.consumerTag))
            try channel.ack(delivery)
        }
        #expect(Set(bodies) == Set((0..<3).flatMap { index in (0..<5).map { "\(index)-\($0)" } }))
        // Each queue's own order holds within the one sequence.
        for index in 0..<3 {
            #expect(bodies.filter { $0.hasPrefix("\(index)-") } == (0..<5).map { "\(index)-\($0)" })
        }
        try await channel.cancel(consumer)
        #expect(try await iterator.next() == nil, "one cancel ends the sequence normally")
        #expect(consumer.tags.isEmpty)
        let info = try await channel.declareQueue(queues[1], durable: false)
        #expect(info.consumerCount == 0, "the broker has no consumer left on the joined queues")
        for queue in queues { try await channel.deleteQueue(queue) }
        await connection.close()
    }

    @Test func aConsumerOfAnotherChannelCannotBeJoined() async throws {
        let connection = try await TestBroker.connect()
        let first = try await connection.openChannel()
        let second = try await connection.openChannel()
        let queue = try await first.temporaryQueue("joined")
        let consumer = try await first.consume(queue: queue)
        await #expect(throws: AMQPError.invalidArgument("a consumer can only be joined on the channel it was started on")) {
            try await second.consume(queue: queue, joining: consumer)
        }
        try await first.cancel(consumer)
        try await first.deleteQueue(queue)
        await connection.close()
    }
}
