import AMQP
import Foundation
import GatewayConfig

/// `dead-letters migrate`: moves the letters of the earlier versions' quorum queue
/// (`topology.deadLetterQueue`, quorum) into the stream of the same name, through a staging
/// stream (`<deadLetterQueue>.migrating`), since a queue cannot change its type in place.
///
/// Every step can be repeated, so a migration killed at any point is finished by running it
/// again: a letter is copied only when no letter with the same fingerprint (body, properties and
/// headers) is already at the destination, and taken off the quorum queue only after its copy
/// was confirmed. Dead letters published meanwhile reach the staging stream or the new stream
/// through the dead-letter exchange, whose bindings are moved one step ahead of the letters.
/// Byte-identical letters (same body, properties and headers) are kept once.
public struct DeadLetterMigration: Sendable {
    let context: OperatorContext

    /// The migration for the configured dead-letter queue.
    public init(context: OperatorContext) { self.context = context }

    var topology: Topology { Topology(context.configuration.topology) }
    var letters: String { topology.section.deadLetterQueue }
    var staging: String { letters + ".migrating" }
    var exchange: String { topology.section.deadLetterExchange }

    /// What a migration did.
    public struct Report: Sendable {
        /// Letters copied from the quorum queue into the staging stream.
        public var staged = 0
        /// Letters copied from the staging stream into the dead-letter stream.
        public var moved = 0
        /// Letters already at the destination (a resumed run), not copied again.
        public var skipped = 0
        /// False when the dead letters were a stream already and nothing was staged.
        public var migrated = false
    }

    /// Runs (or finishes) the migration; `rate` bounds the letters copied per second.
    public func run(rate: Double?, say: (String) -> Void) async throws -> Report {
        let connection = try await context.connect(as: "dead-letters migrate")
        do {
            let report = try await migrate(on: connection, rate: rate, say: say)
            await connection.close()
            return report
        } catch let error as OperatorError {
            await connection.close()
            throw error
        } catch {
            await connection.close()
            throw OperatorError(.runtime, "migration stopped: \(error); run it again to finish, nothing was lost")
        }
    }

    private func migrate(on connection: AMQPConnection, rate: Double?, say: (String) -> Void) async throws -> Report {
        var report = Report()
        let store = DeadLetterStore(topology: topology)
        let shape = try await store.shape(on: connection)
        let stagingExists = try await connection.queueExists(staging)
        if case .other(let text) = shape { throw OperatorError(.runtime, "\(letters) is neither the earlier quorum queue nor a stream: \(text)") }
        if shape == .stream, !stagingExists {
            say("\(letters) is a stream already: nothing to migrate")
            return report
        }
        report.migrated = true
        let channel = try await connection.openChannel()
        if shape == .quorum {
            // New letters go to the staging stream from here on; then the quorum queue stops
            // taking them, and its letters follow.
            try await channel.declareQueue(staging, durable: true, arguments: topology.deadLetterQueueArguments)
            try await channel.bindQueue(staging, exchange: exchange, routingKey: "#")
            try await channel.unbindQueue(letters, exchange: exchange, routingKey: "#")
            report = try await drainQuorum(into: staging, on: connection, rate: rate, report: report)
            // Quorum queues refuse `if-empty`: the queue is unbound, so empty now stays empty.
            let left = try await channel.checkQueue(letters).messageCount
            guard left == 0 else {
                throw OperatorError(.runtime, "\(letters) still holds \(left) letters (another reader holds them?); run the migration again")
            }
            _ = try await channel.deleteQueue(letters)
            say("staged \(report.staged) dead letters from the quorum queue \(letters) (\(report.skipped) already staged); deleted it")
        }
        // The stream takes new letters before the staging stream stops taking them.
        try await channel.declareQueue(letters, durable: true, arguments: topology.deadLetterQueueArguments)
        try await channel.bindQueue(letters, exchange: exchange, routingKey: "#")
        try await channel.declareQueue(topology.settledQueue, durable: true, arguments: topology.deadLetterQueueArguments)
        if try await connection.queueExists(staging) {
            let unbinder = try await connection.openChannel()
            try await unbinder.unbindQueue(staging, exchange: exchange, routingKey: "#")
            try? await unbinder.close()
            report = try await copyStaging(on: connection, rate: rate, report: report)
            let deleter = try await connection.openChannel()
            _ = try await deleter.deleteQueue(staging)
            try? await deleter.close()
        }
        try? await channel.close()
        say("moved \(report.moved) dead letters into the stream \(letters) (\(report.skipped) were there already); \(topology.retentionLine)")
        return report
    }

    /// Takes every letter off the quorum queue: copied to the staging stream (unless a copy is
    /// there), confirmed, then acked.
    private func drainQuorum(into staging: String, on connection: AMQPConnection, rate: Double?, report: Report) async throws -> Report {
        var report = report
        var present = Set(try await StreamReading.read(staging, on: connection).map { Self.fingerprint($0.delivery) })
        let reader = try await connection.openChannel()
        let publisher = try await connection.openChannel(publisherConfirms: true)
        let pacer = Pacer(rate: rate)
        while let delivery = try await reader.get(queue: letters) {
            let print = Self.fingerprint(delivery)
            if present.contains(print) {
                report.skipped += 1
            } else {
                try await pacer.wait(report.staged)
                try await copy(delivery, to: staging, on: publisher)
                present.insert(print)
                report.staged += 1
            }
            try reader.ack(delivery)
        }
        try? await reader.close()
        try? await publisher.close()
        return report
    }

    private func copyStaging(on connection: AMQPConnection, rate: Double?, report: Report) async throws -> Report {
        var report = report
        var present = Set(try await StreamReading.read(letters, on: connection).map { Self.fingerprint($0.delivery) })
        let publisher = try await connection.openChannel(publisherConfirms: true)
        let pacer = Pacer(rate: rate)
        for message in try await StreamReading.read(staging, on: connection) {
            let print = Self.fingerprint(message.delivery)
            if present.contains(print) {
                report.skipped += 1
                continue
            }
            try await pacer.wait(report.moved)
            try await copy(message.delivery, to: letters, on: publisher)
            present.insert(print)
            report.moved += 1
        }
        try? await publisher.close()
        return report
    }

    /// Publishes `delivery` as it is to `queue`, keeping the routing key it was dead-lettered
    /// with (a poison letter's class) in a header.
    private func copy(_ delivery: Delivery, to queue: String, on channel: AMQPChannel) async throws {
        var properties = delivery.properties
        var headers = FieldTable((properties.headers ?? FieldTable()).filter { $0.key != "x-stream-offset" })
        if headers[DeadLetter.routingKeyHeader] == nil { headers[DeadLetter.routingKeyHeader] = .string(delivery.routingKey) }
        properties.headers = headers
        let answer = try await channel.publishAndConfirm(delivery.body, exchange: "", routingKey: queue, mandatory: true, properties: properties)
        guard answer == .acked else { throw OperatorError(.runtime, "the broker did not take a letter into \(queue) (\(answer))") }
    }

    /// The same letter read from the quorum queue, the staging stream or the new stream: its
    /// body, message ID and headers, without what the copy or the stream added, nor the
    /// `x-delivery-count` RabbitMQ 4 adds when a killed migration's unacked letter comes back.
    static func fingerprint(_ delivery: Delivery) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x0000_0100_0000_01b3
        }
        mix(delivery.body)
        var properties = delivery.properties
        let headers = (properties.headers ?? FieldTable()).filter {
            $0.key != "x-stream-offset" && $0.key != DeadLetter.routingKeyHeader && $0.key != "x-delivery-count"
        }
        properties.headers = nil
        mix("\(properties)".utf8)
        // Sorted: RabbitMQ 4 hands header tables back in key order, 3.10 as they were sent.
        mix("\(headers.map { "\($0.key)=\($0.value)" }.sorted())".utf8)
        return hash
    }

    /// Spaces copies to at most `rate` per second.
    struct Pacer {
        let rate: Double?
        let started = ContinuousClock.now

        func wait(_ done: Int) async throws {
            guard let rate, rate > 0 else { return }
            let due = started + .milliseconds(Int64(Double(done) / rate * 1000))
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
        }
    }
}
