import AMQP

/// The exchanges, queues and bindings of CONTRACT.md section 7.
public struct Topology: Sendable {
    /// The names and limits it declares and checks.
    public let section: GatewayConfiguration.TopologySection

    /// The topology named by the configuration's `topology` section.
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
        // Replicas on one queue: the broker keeps one consumer active and hands over in order.
        if section.singleActiveConsumer { arguments["x-single-active-consumer"] = FieldValue.bool(true) }
        return arguments
    }

    /// The dead-letter queue's arguments: a quorum queue.
    public var deadLetterQueueArguments: FieldTable { ["x-queue-type": .string("quorum")] }

    /// A topology the gateway cannot use as it is (a queue with other arguments, a missing entity).
    public struct Problem: Error, CustomStringConvertible {
        /// One line saying what and how to go on.
        public let description: String
    }

    /// One exchange, queue or binding, with what section 7 wants of it.
    public struct Entity: Sendable {
        /// What an entity is.
        public enum Kind: String, Sendable { case exchange, queue, binding }
        /// Exchange, queue or binding.
        public let kind: Kind
        /// Its name (a binding's: source → destination).
        public let name: String
        /// Its type and arguments, as declared.
        public let details: String
    }

    /// Every exchange, queue and binding of CONTRACT section 7, in declaration order.
    public var entities: [Entity] {
        [
            Entity(kind: .exchange, name: section.commandsExchange, details: "direct, durable"),
            Entity(kind: .exchange, name: section.resultsExchange, details: "topic, durable"),
            Entity(kind: .exchange, name: section.deadLetterExchange, details: "topic, durable"),
            Entity(kind: .queue, name: section.commandsQueue, details: "durable, " + Self.describe(commandsQueueArguments)),
            Entity(kind: .queue, name: section.deadLetterQueue, details: "durable, " + Self.describe(deadLetterQueueArguments)),
            Entity(
                kind: .binding, name: "\(section.commandsExchange) → \(section.commandsQueue)", details: "routing key \(section.commandsRoutingKey)"),
            Entity(kind: .binding, name: "\(section.deadLetterExchange) → \(section.deadLetterQueue)", details: "routing key #"),
        ]
    }

    static func describe(_ arguments: FieldTable) -> String {
        arguments.map { entry in
            switch entry.value {
            case .string(let text): return "\(entry.key)=\(text)"
            default: return "\(entry.key)=\(entry.value.intValue.map(String.init) ?? "\(entry.value)")"
            }
        }.joined(separator: ", ")
    }

    /// Declares everything (idempotent when it already exists as specified); one line per entity.
    /// - Throws: ``Problem`` naming the entity that exists with other arguments.
    @discardableResult
    public func declare(on connection: AMQPConnection) async throws -> [String] {
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
        return entities.map { "\($0.kind.rawValue) \($0.name): declared (\($0.details))" }
    }

    private func declareQueue(_ name: String, arguments: FieldTable, on connection: AMQPConnection, channel: AMQPChannel) async throws {
        do {
            try await channel.declareQueue(name, durable: true, arguments: arguments)
        } catch {
            guard error.replyCode == 406 else { throw error }
            throw Problem(
                description:
                    "queue \(name) exists with other arguments (\(error)); delete it, or set topology.declare: false to use it as it is after a passive check"
            )
        }
    }

    /// Checks that every exchange and queue exists; returns one line per entity checked.
    /// - Throws: ``Problem`` naming every missing entity.
    public func check(on connection: AMQPConnection) async throws -> [String] {
        let lines = try await check(on: connection, verifyArguments: false)
        let missing = lines.filter { !$0.ok }.map(\.line)
        guard missing.isEmpty else { throw Problem(description: missing.joined(separator: "; ")) }
        return lines.map(\.line)
    }

    /// One line of `topology check`.
    public struct CheckLine: Sendable {
        /// What was found.
        public let line: String
        /// False when the entity is missing or differs.
        public let ok: Bool
    }

    /// The operator's check: existence passively, then, with `verifyArguments`, whether each
    /// exchange and queue has the type and arguments of section 7. AMQP 0-9-1 cannot read an
    /// entity's arguments back, so the check re-declares an entity that already exists with the
    /// wanted arguments: the broker answers 406 when they differ and changes nothing either way.
    /// Bindings cannot be inspected over AMQP at all; they are listed as such.
    /// A missing entity is a line that is not ok; the check goes on, so one run names them all.
    public func check(on connection: AMQPConnection, verifyArguments: Bool) async throws -> [CheckLine] {
        var report: [CheckLine] = []
        let exchanges: [(String, ExchangeType)] = [
            (section.commandsExchange, .direct), (section.resultsExchange, .topic), (section.deadLetterExchange, .topic),
        ]
        for (exchange, type) in exchanges {
            let channel = try await connection.openChannel()
            do {
                try await channel.checkExchange(exchange)
                try? await channel.close()
            } catch {
                report.append(CheckLine(line: "exchange \(exchange) is missing (\(error))", ok: false))
                continue
            }
            guard verifyArguments else {
                report.append(CheckLine(line: "exchange \(exchange): ok", ok: true))
                continue
            }
            let verifier = try await connection.openChannel()
            do {
                try await verifier.declareExchange(exchange, type: type)
                try? await verifier.close()
                report.append(CheckLine(line: "exchange \(exchange): ok (\(type), durable)", ok: true))
            } catch {
                guard error.replyCode == 406 else { throw error }
                report.append(CheckLine(line: "exchange \(exchange): DIFFERS, not \(type) and durable (\(error))", ok: false))
            }
        }
        let queues = [(section.commandsQueue, commandsQueueArguments), (section.deadLetterQueue, deadLetterQueueArguments)]
        for (queue, arguments) in queues {
            let channel = try await connection.openChannel()
            let info: QueueInfo
            do {
                info = try await channel.checkQueue(queue)
                try? await channel.close()
            } catch {
                report.append(CheckLine(line: "queue \(queue) is missing (\(error))", ok: false))
                continue
            }
            let counts = "\(info.messageCount) messages, \(info.consumerCount) consumers"
            guard verifyArguments else {
                report.append(CheckLine(line: "queue \(queue): ok, \(counts)", ok: true))
                continue
            }
            let verifier = try await connection.openChannel()
            do {
                try await verifier.declareQueue(queue, durable: true, arguments: arguments)
                try? await verifier.close()
                report.append(CheckLine(line: "queue \(queue): ok (durable, \(Self.describe(arguments))), \(counts)", ok: true))
            } catch {
                guard error.replyCode == 406 else { throw error }
                report.append(
                    CheckLine(
                        line: "queue \(queue): DIFFERS from durable, \(Self.describe(arguments)) (\(error)), \(counts)", ok: false
                    ))
            }
        }
        for binding in entities where binding.kind == .binding {
            report.append(
                CheckLine(line: "binding \(binding.name) (\(binding.details)): not inspectable over AMQP; `topology declare` makes it", ok: true))
        }
        return report
    }
}
