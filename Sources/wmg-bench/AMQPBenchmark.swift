import AMQP
import Foundation

/// The same work as deploy/bench/amqp_bench.c, through the Swift client: publish COUNT persistent
/// messages to a quorum queue with at most WINDOW unconfirmed, then consume them with PREFETCH and
/// one ack per message.
struct AMQPBenchmark {
    let url: String
    let count: Int
    let size: Int
    let window: Int
    let prefetch: UInt16

    func run() async throws {
        var configuration = try AMQPConfiguration(url: url)
        configuration.connectionName = "wmg-bench"
        let connection = try await AMQPConnection.connect(configuration)
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = "bench-swift-\(UUID().uuidString.prefix(8))"
        try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": .string("quorum")])

        let body = [UInt8](repeating: 0x61, count: size)
        var inFlight: [PublishConfirmation] = []
        inFlight.reserveCapacity(window)
        var oldest = 0
        var acked = 0
        var started = ContinuousClock.now
        for index in 0..<count {
            if inFlight.count - oldest >= window {
                if try await inFlight[oldest].outcome() == .acked { acked += 1 }
                oldest += 1
                if oldest > 4096 {
                    inFlight.removeFirst(oldest)
                    oldest = 0
                }
            }
            let properties = MessageProperties(deliveryMode: .persistent, messageId: String(index))
            inFlight.append(try channel.publish(body, exchange: "", routingKey: queue, properties: properties))
        }
        for confirmation in inFlight[oldest...] where try await confirmation.outcome() == .acked { acked += 1 }
        let publishSeconds = (ContinuousClock.now - started).seconds
        guard acked == count else { throw BenchmarkError("only \(acked) of \(count) publishes were acked") }
        print("swift publish-confirm \(Int(Double(count) / publishSeconds))")

        try await channel.qos(prefetchCount: prefetch)
        let consumer = try await channel.consume(queue: queue)
        var received = 0
        started = ContinuousClock.now
        for try await delivery in consumer {
            try channel.ack(delivery)
            received += 1
            if received == count { break }
        }
        let consumeSeconds = (ContinuousClock.now - started).seconds
        print("swift consume-ack \(Int(Double(count) / consumeSeconds))")
        try await channel.deleteQueue(queue)
        await connection.close()
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
