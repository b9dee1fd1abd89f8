import AMQP
import Foundation
import Testing

/// The consistent-hash exchange keeps each call key on its partition when the topology is
/// declared again, as every replica does when it starts: a call that moved to another partition
/// would have its commands served by two replicas at once, out of order.
@Suite(.timeLimit(.minutes(5))) struct HashRingTests {
    static func placement(
        _ channel: AMQPChannel, publisher: AMQPChannel, exchange: String, queues: [String], keys: [String]
    ) async throws -> [String: String] {
        for key in keys {
            let properties = MessageProperties(headers: ["x-call-key": .string(key)], messageId: key)
            #expect(
                try await publisher.publishAndConfirm(Array(key.utf8), exchange: exchange, routingKey: "change", properties: properties) == .acked)
        }
        var placed: [String: String] = [:]
        for queue in queues {
            while let delivery = try await channel.get(queue: queue) {
                placed[delivery.properties.messageId ?? ""] = queue
                try channel.ack(delivery)
            }
        }
        return placed
    }

    @Test func declaringTheBindingsAgainMovesNoKey() async throws {
        let connection = try await AMQPConnection.connect(AMQPConfiguration(url: Harness.amqpURL))
        let channel = try await connection.openChannel()
        let publisher = try await connection.openChannel(publisherConfirms: true)
        let prefix = "ring-\(UInt32.random(in: 0...UInt32.max))"
        let exchange = prefix + ".hash"
        try await channel.declareExchange(
            exchange, type: ExchangeType(rawValue: "x-consistent-hash"), arguments: ["hash-header": .string("x-call-key")])
        let queues = (0..<4).map { "\(prefix).p\($0)" }
        func bind() async throws { for queue in queues { try await channel.bindQueue(queue, exchange: exchange, routingKey: "1") } }
        for queue in queues { try await channel.declareQueue(queue, durable: false, autoDelete: false) }
        try await bind()
        let keys = (0..<200).map { "t1/call-\($0)" }
        let before = try await Self.placement(channel, publisher: publisher, exchange: exchange, queues: queues, keys: keys)
        try await bind()
        try await bind()
        let after = try await Self.placement(channel, publisher: publisher, exchange: exchange, queues: queues, keys: keys)
        let moved = keys.filter { before[$0] != after[$0] }
        #expect(before.count == 200 && moved.isEmpty, "\(moved.count) of 200 keys moved after binding again")
        for queue in queues { _ = try await channel.deleteQueue(queue) }
        try await channel.deleteExchange(exchange)
        await connection.close()
    }
}
