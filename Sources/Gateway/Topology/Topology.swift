import AMQP

/// The exchanges, queues and bindings of CONTRACT.md section 7.
public struct Topology: Sendable {
    public let section: GatewayConfiguration.TopologySection

    public init(_ section: GatewayConfiguration.TopologySection) { self.section = section }

    /// The commands queue: quorum, with the broker's own delivery limit and at-least-once
    /// dead-lettering of crash-looping commands to the dead-letter exchange as `poison`.
    public var commandsQueueArguments: FieldTable {
        var arguments = FieldTable()
        arguments["x-queue-type"] = FieldValue.string("quorum")
        arguments["x-delivery-limit"] = FieldValue.int64(Int64(section.deliveryLimit))
        arguments["x-dead-letter-exchange"] = FieldValue.string(section.deadLetterExchange)
        arguments["x-dead-letter-routing-key"] = FieldValue.string("poison")
        arguments["x-dead-letter-strategy"] = FieldValue.string("at-least-once")
        arguments["x-overflow"] = FieldValue.string("reject-publish")
        return arguments
    }

    public var deadLetterQueueArguments: FieldTable { ["x-queue-type": .string("quorum")] }

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Declares everything (idempotent when it already exists as specified).
    /// - Throws: ``Problem`` naming the entity that exists with other arguments.
    public func declare(on connection: AMQPConnection) async throws {
        let channel = try await connection.openChannel()
        do {
            try await channel.declareExchange(section.commandsExchange, type: .direct)
            try await channel.declareExchange(section.resultsExchange, type: .topic)
            try await channel.declareExchange(section.deadLetterExchange, type: .topic)
        } catch {
            guard error.replyCode == 406 else { throw error }
            throw Problem(description: "an exchange exists with other settings: \(error)")
        }
        try await declareQueue(section.commandsQueue, arguments: commandsQueueArguments, on: connection, channel: channel)
        try await declareQueue(section.deadLetterQueue, arguments: deadLetterQueueArguments, on: connection, channel: channel)
        try await channel.bindQueue(section.commandsQueue, exchange: section.commandsExchange, routingKey: section.commandsRoutingKey)
        try await channel.bindQueue(section.deadLetterQueue, exchange: section.deadLetterExchange, routingKey: "#")
        try? await channel.close()
    }

    private func declareQueue(_ name: String, arguments: FieldTable, on connection: AMQPConnection, channel: AMQPChannel) async throws {
        do {
            try await channel.declareQueue(name, durable: true, arguments: arguments)
        } catch {
            guard error.replyCode == 406 else { throw error }
            throw Problem(description: "queue \(name) exists with other arguments (\(error)); delete it, or set topology.declare: false to use it as it is after a passive check")
        }
    }

    /// Checks passively that every entity exists; returns one line per entity checked.
    /// - Throws: ``Problem`` naming the first missing entity.
    public func check(on connection: AMQPConnection) async throws -> [String] {
        var report: [String] = []
        for exchange in [section.commandsExchange, section.resultsExchange, section.deadLetterExchange] {
            let channel = try await connection.openChannel()
            do {
                try await channel.checkExchange(exchange)
                report.append("exchange \(exchange): ok")
                try? await channel.close()
            } catch {
                throw Problem(description: "exchange \(exchange) is missing (\(error))")
            }
        }
        for queue in [section.commandsQueue, section.deadLetterQueue] {
            let channel = try await connection.openChannel()
            do {
                let info = try await channel.checkQueue(queue)
                report.append("queue \(queue): ok, \(info.messageCount) messages, \(info.consumerCount) consumers")
                try? await channel.close()
            } catch {
                throw Problem(description: "queue \(queue) is missing (\(error))")
            }
        }
        return report
    }
}
