import AMQP
import GatewayConfig

/// `topology repartition`: changes the number of partition queues of an existing partitioned
/// topology to the configured `topology.partitions`, moving every waiting command into the new
/// partitions, so none is stranded on a queue no replica serves.
///
/// Every replica must be stopped (the tool refuses while a partition queue has a consumer). The
/// commands waiting in the old partitions are moved to `<commandsQueue>.repartition-moved`, and
/// commands published meanwhile go to `<commandsQueue>.repartition-incoming` instead of the
/// partitions, so nothing is unroutable at any moment. Then the old partition queues and
/// exchanges are deleted, the new ones declared, and the moved commands, then the incoming ones,
/// are published into the new partitions (a call's commands, which were in one old partition in
/// order, stay in order in one new partition). Each command is taken off a holding queue only
/// after the broker confirmed its copy: a run stopped at any point loses nothing, and running it
/// again finishes the job (a command copied and not yet taken off may then arrive twice, with the
/// same message ID: the completion journal answers the second).
public struct Repartition: Sendable {
    let context: OperatorContext

    /// The tool for the configuration's topology.
    public init(context: OperatorContext) { self.context = context }

    var topology: Topology { Topology(context.configuration.topology) }
    static let routingKeyHeader = "x-repartition-routing-key"
    var moved: String { context.configuration.topology.commandsQueue + ".repartition-moved" }
    var incoming: String { context.configuration.topology.commandsQueue + ".repartition-incoming" }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        /// Partition queues before.
        public var from = 0
        /// Partition queues after: `topology.partitions`.
        public var to = 0
        /// Commands that waited in the old partitions, now in the new ones.
        public var moved = 0
        /// Commands published while it ran, held, now in the new partitions.
        public var incoming = 0
        /// False when the broker already had the configured count and nothing was held.
        public var changed = false
    }

    /// Runs (or finishes) the change.
    public func run(say: (String) -> Void) async throws -> Report {
        let connection = try await context.connect(as: "topology repartition")
        do {
            let report = try await repartition(on: connection, say: say)
            await connection.close()
            return report
        } catch let error as OperatorError {
            await connection.close()
            throw error
        } catch {
            await connection.close()
            throw OperatorError(.runtime, "repartition stopped: \(error); run it again to finish, nothing was lost")
        }
    }

    private func repartition(on connection: AMQPConnection, say: (String) -> Void) async throws -> Report {
        var report = Report()
        let section = context.configuration.topology
        report.to = section.partitions
        guard section.partitions > 0 else {
            throw OperatorError(.usage, "topology.partitions is 0: repartition changes one partition count to another (both at least 1)")
        }
        report.from = try await topology.existingPartitionCount(on: connection)
        let movedExists = try await connection.queueExists(moved)
        let incomingExists = try await connection.queueExists(incoming)
        let holding = movedExists || incomingExists
        if report.from == 0, !holding {
            throw OperatorError(
                .runtime,
                "the broker holds no partition queues (\(topology.partitionQueue(0)) …): nothing to repartition; `topology declare` creates them")
        }
        if report.from == section.partitions, !holding {
            say("the broker holds \(report.from) partition queues already: nothing to do")
            return report
        }
        report.changed = true
        try await refuseWhileConsumed(report.from, on: connection)

        let channel = try await connection.openChannel()
        let holdingArguments: FieldTable = ["x-queue-type": .string("quorum")]
        try await channel.declareQueue(moved, durable: true, arguments: holdingArguments)
        try await channel.declareQueue(incoming, durable: true, arguments: holdingArguments)
        // New commands are held before the partitions stop taking them: never unroutable.
        try await channel.bindQueue(incoming, exchange: section.commandsExchange, routingKey: section.commandsRoutingKey)
        // Gone already when an earlier run stopped between deleting the old exchanges and declaring
        // the new ones (unbinding from a missing exchange is an error).
        if try await connection.exchangeExists(topology.partitionedExchange) {
            try await channel.unbindExchange(topology.partitionedExchange, from: section.commandsExchange, routingKey: section.commandsRoutingKey)
        }
        if report.from != section.partitions {
            for index in 0..<report.from {
                let count = try await move(from: topology.partitionQueue(index), to: .queue(moved), on: connection)
                if count > 0 { say("moved \(count) commands out of \(topology.partitionQueue(index))") }
            }
            // Highest first: a run stopped here still finds p0 … pN, empty, and moves nothing twice.
            for index in (0..<report.from).reversed() { _ = try await channel.deleteQueue(topology.partitionQueue(index)) }
            try await channel.deleteExchange(topology.partitionedExchange)
            try await channel.deleteExchange(topology.unkeyedExchange)
            say("deleted \(report.from) partition queues and the partitioned exchanges")
        }
        // The new partitions, without the route from the commands exchange yet: the commands that
        // waited go in first.
        try await topology.declare(on: connection, routingCommands: false)
        report.moved = try await move(from: moved, to: .partitions, on: connection)
        report.incoming = try await move(from: incoming, to: .partitions, on: connection)
        try await channel.bindExchange(topology.partitionedExchange, to: section.commandsExchange, routingKey: section.commandsRoutingKey)
        try await channel.unbindQueue(incoming, exchange: section.commandsExchange, routingKey: section.commandsRoutingKey)
        // Published between the last move and the switch.
        report.incoming += try await move(from: incoming, to: .partitions, on: connection)
        _ = try await channel.deleteQueue(moved)
        _ = try await channel.deleteQueue(incoming)
        try? await channel.close()
        say(
            "\(section.partitions) partition queues now (were \(report.from)); \(report.moved) waiting commands and \(report.incoming) published meanwhile are in them; start the replicas with topology.partitions: \(section.partitions)"
        )
        return report
    }

    private func refuseWhileConsumed(_ partitions: Int, on connection: AMQPConnection) async throws {
        let channel = try await connection.openChannel()
        for index in 0..<partitions {
            let consumers = try await channel.checkQueue(topology.partitionQueue(index)).consumerCount
            if consumers > 0 {
                throw OperatorError(
                    .runtime,
                    "\(topology.partitionQueue(index)) has \(consumers) consumers: stop every replica first (they would take commands while they move)"
                )
            }
        }
        try? await channel.close()
    }

    private enum Destination {
        case queue(String)
        /// The partitioned exchange: the consistent hash on `x-call-key` picks the partition, as
        /// for a command just published.
        case partitions
    }

    /// Moves every message of `queue` in order: copied, confirmed, then acknowledged. Partition
    /// queues (single active consumer) refuse `basic.get`, so they are consumed, for as many
    /// messages as they held: nothing new reaches them once the commands exchange routes to the
    /// incoming queue.
    private func move(from queue: String, to destination: Destination, on connection: AMQPConnection) async throws -> Int {
        let reader = try await connection.openChannel()
        let publisher = try await connection.openChannel(publisherConfirms: true)
        var count = 0
        if queue.hasPrefix(context.configuration.topology.commandsQueue + ".p") {
            let waiting = Int(try await reader.checkQueue(queue).messageCount)
            guard waiting > 0 else {
                try? await reader.close()
                try? await publisher.close()
                return 0
            }
            try await reader.qos(prefetchCount: 64)
            let consumer = try await reader.consume(queue: queue)
            for try await delivery in consumer {
                try await copy(delivery, from: queue, to: destination, on: publisher)
                try reader.ack(delivery)
                count += 1
                if count == waiting { break }
            }
            try? await reader.cancel(consumer)
            try? await reader.close()
            try? await publisher.close()
            return count
        }
        while let delivery = try await reader.get(queue: queue) {
            try await copy(delivery, from: queue, to: destination, on: publisher)
            try reader.ack(delivery)
            count += 1
        }
        try? await reader.close()
        try? await publisher.close()
        return count
    }

    private func copy(_ delivery: Delivery, from queue: String, to destination: Destination, on publisher: AMQPChannel) async throws {
        // A holding queue is reached through the default exchange, by its name: the command's
        // own routing key (`change`, which a replay of its dead letter uses) waits in a header.
        var properties = delivery.properties
        var headers = properties.headers ?? FieldTable()
        let exchange: String
        let routingKey: String
        switch destination {
        case .queue(let name):
            (exchange, routingKey) = ("", name)
            if headers[Self.routingKeyHeader] == nil { headers[Self.routingKeyHeader] = .string(delivery.routingKey) }
        case .partitions:
            exchange = topology.partitionedExchange
            routingKey = headers[Self.routingKeyHeader]?.stringValue ?? delivery.routingKey
            headers[Self.routingKeyHeader] = nil
        }
        properties.headers = headers.isEmpty ? nil : headers
        let answer = try await publisher.publishAndConfirm(
            delivery.body, exchange: exchange, routingKey: routingKey, mandatory: true, properties: properties)
        guard answer == .acked else {
            throw OperatorError(.runtime, "the broker did not take a command moved from \(queue) (\(answer)); run it again to finish")
        }
    }
}
