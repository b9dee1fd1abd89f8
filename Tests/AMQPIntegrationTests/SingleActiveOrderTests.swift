import AMQP
import Foundation
import Testing

/// What the gateway's drains and hand-backs on single-active queues rely on, checked on the broker
/// in use (the test command runs it on RabbitMQ 3.10 and 4.x): when the active consumer's channel
/// closes, the next consumer gets what it held in queue order; a nack instead puts the message
/// behind every later one the consumer holds, so a call's earlier command would reach the next
/// consumer after its later ones; and what a close returns goes behind what earlier closes returned
/// that no consumer has taken yet, so a consumer that took only part of those (its prefetch) must
/// settle them before it lets go (`HandOver`, docs/rabbitmq-versions.md).
@Suite(.timeLimit(.minutes(5))) struct SingleActiveOrderTests {
    static let count = 40

    /// A single-active quorum queue holding `count` messages "0" … "39", the first consumer (on a
    /// connection of its own) holding all of them unacknowledged, and a second consumer waiting.
    func holding(_ body: (_ first: AMQPChannel, _ held: [Delivery], _ next: AMQPConsumer) async throws -> Void) async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = TestBroker.uniqueName("sac-order")
        try await channel.declareQueue(
            queue, durable: true, arguments: ["x-queue-type": .string("quorum"), "x-single-active-consumer": .bool(true)])
        for index in 0..<Self.count {
            #expect(try await channel.publishAndConfirm(Array("\(index)".utf8), exchange: "", routingKey: queue) == .acked)
        }
        let firstConnection = try await TestBroker.connect()
        let first = try await firstConnection.openChannel()
        try await first.qos(prefetchCount: UInt16(Self.count + 10))
        let firstConsumer = try await first.consume(queue: queue)
        let held = try await Self.collect(firstConsumer, Self.count)
        let secondChannel = try await connection.openChannel()
        try await secondChannel.qos(prefetchCount: UInt16(Self.count + 10))
        let second = try await secondChannel.consume(queue: queue)
        try await body(first, held, second)
        await firstConnection.close()
        _ = try? await channel.deleteQueue(queue)
        await connection.close()
    }

    /// The next `count` deliveries, through one iterator, failing instead of hanging.
    static func collect(_ consumer: AMQPConsumer, _ count: Int, within seconds: Double = 20) async throws -> [Delivery] {
        try await withThrowingTaskGroup(of: [Delivery].self) { group in
            group.addTask {
                var deliveries: [Delivery] = []
                var iterator = consumer.makeAsyncIterator()
                while deliveries.count < count, let delivery = try await iterator.next() { deliveries.append(delivery) }
                return deliveries
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                throw TimeoutError(seconds: seconds)
            }
            defer { group.cancelAll() }
            return try await group.next() ?? []
        }
    }

    static func bodies(_ consumer: AMQPConsumer, _ expected: Int) async throws -> [Int] {
        try await collect(consumer, expected).map { Int(String(decoding: $0.body, as: UTF8.self)) ?? -1 }
    }

    @Test func aClosedChannelsMessagesGoToTheNextConsumerInQueueOrder() async throws {
        try await holding { first, held, second in
            #expect(held.map { String(decoding: $0.body, as: UTF8.self) } == (0..<Self.count).map(String.init))
            try await first.close()
            #expect(try await Self.bodies(second, Self.count) == Array(0..<Self.count))
        }
    }

    @Test func aNackPutsTheMessageBehindEveryLaterOneTheConsumerHolds() async throws {
        try await holding { first, held, second in
            // Acknowledge 0…9, nack 10 (requeue), hold 11…39: 10 comes back to the same, still
            // active, consumer after 39, and its close returns it last.
            for delivery in held.prefix(10) { try first.ack(delivery) }
            try first.nack(held[10], requeue: true)
            try await first.close()
            let order = try await Self.bodies(second, Self.count - 10)
            #expect(order == Array(11..<Self.count) + [10], "the nacked message is no longer in its place: \(order)")
        }
    }

    @Test func aCloseReturnsWhatItHeldBehindEarlierReturnsNotYetTaken() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = TestBroker.uniqueName("sac-returns")
        try await channel.declareQueue(
            queue, durable: true, arguments: ["x-queue-type": .string("quorum"), "x-single-active-consumer": .bool(true)])
        for index in 0..<Self.count {
            #expect(try await channel.publishAndConfirm(Array("\(index)".utf8), exchange: "", routingKey: queue) == .acked)
        }
        // Consumers on connections of their own: the first holds all 40, the second may hold only
        // 10 (its prefetch); the third subscribes once the second has them (RabbitMQ 4.x may
        // activate any waiting consumer next, 3.10 the oldest).
        var connections: [AMQPConnection] = []
        func consumer(prefetch: Int) async throws -> (AMQPChannel, AMQPConsumer) {
            let consumerConnection = try await TestBroker.connect()
            connections.append(consumerConnection)
            let consumerChannel = try await consumerConnection.openChannel()
            try await consumerChannel.qos(prefetchCount: UInt16(prefetch))
            return (consumerChannel, try await consumerChannel.consume(queue: queue))
        }
        let (firstChannel, first) = try await consumer(prefetch: Self.count + 10)
        #expect(try await Self.bodies(first, Self.count) == Array(0..<Self.count))
        let (secondChannel, second) = try await consumer(prefetch: 10)
        // The first lets go: the second takes 0…9 of its 40 and lets go too, holding them.
        try await firstChannel.close()
        #expect(try await Self.bodies(second, 10) == Array(0..<10))
        let (_, third) = try await consumer(prefetch: Self.count + 10)
        try await secondChannel.close()
        let order = try await Self.bodies(third, Self.count)
        #expect(order == Array(10..<Self.count) + Array(0..<10), "the second close's messages are not last: \(order)")
        for consumerConnection in connections { await consumerConnection.close() }
        _ = try? await channel.deleteQueue(queue)
        await connection.close()
    }
}
