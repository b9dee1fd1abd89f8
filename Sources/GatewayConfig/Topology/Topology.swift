import AMQP
import WorkModeDomain

/// The exchanges, queues and bindings of docs/contract.md section 7, and with `topology.partitions`
/// the partitioned form of section 11.
public struct Topology: Sendable {
    /// The names and limits it declares and checks.
    public let section: GatewayConfiguration.TopologySection

    /// The topology named by the configuration's `topology` section.
    public init(_ section: GatewayConfiguration.TopologySection) { self.section = section }

    /// The header publishers set to `<tenantId>/<callId>`, on which partitions are chosen.
    public static let callKeyHeader = "x-call-key"

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

    /// A partition queue: the commands queue's arguments, always with a single active consumer.
    public var partitionQueueArguments: FieldTable {
        var arguments = commandsQueueArguments
        arguments["x-single-active-consumer"] = FieldValue.bool(true)
        return arguments
    }

    /// The dead-letter stream's arguments: retention by age and by size, in segments small
    /// enough that retention acts at that granularity (a stream deletes whole segments, and its
    /// default segment of 500 MB would keep a quiet stream's letters long past their age).
    public var deadLetterQueueArguments: FieldTable {
        [
            "x-queue-type": .string("stream"),
            "x-max-age": .string("\(Int64(section.deadLetterRetention.timeInterval))s"),
            "x-max-length-bytes": .int64(Int64(section.deadLetterMaxBytes)),
            "x-stream-max-segment-size-bytes": .int64(Int64(min(section.deadLetterMaxBytes / 8, Self.segmentBytes))),
        ]
    }
    static let segmentBytes = 16_000_000

    /// `<deadLetterQueue>.settled`: the stream of settlement records (a replay or purge of one
    /// dead letter each), kept as long as the letters.
    public var settledQueue: String { section.deadLetterQueue + ".settled" }

    /// `<deadLetterQueue>.settling`: the exclusive queue that lets one replay or purge run at a time.
    public var settleLockQueue: String { section.deadLetterQueue + ".settling" }

    /// One line for the start log and `topology check`: how long dead letters are kept.
    public var retentionLine: String {
        "dead letters kept in stream \(section.deadLetterQueue) for \(DurationText.format(section.deadLetterRetention)) or up to \(section.deadLetterMaxBytes) bytes, whichever ends first"
    }

    /// `<commandsExchange>.partitioned`: the consistent-hash exchange on ``callKeyHeader``.
    public var partitionedExchange: String { section.commandsExchange + ".partitioned" }
    /// `<commandsExchange>.unkeyed`: where a command without ``callKeyHeader`` goes (to `.p0`).
    public var unkeyedExchange: String { section.commandsExchange + ".unkeyed" }
    /// `<commandsQueue>.p<index>`.
    public func partitionQueue(_ index: Int) -> String { section.commandsQueue + ".p\(index)" }

    /// `<commandsQueue>.batch`: batch jobs' commands (docs/contract.md section 12), bound with
    /// ``batchRoutingKey`` and run only in the slots live commands leave.
    public var batchQueue: String { section.commandsQueue + ".batch" }
    /// The routing key that sends a command to ``batchQueue``.
    public static let batchRoutingKey = "batch"

    /// The live queues the gateway consumes: the commands queue, or every partition queue.
    public var commandQueues: [String] {
        section.partitions == 0 ? [section.commandsQueue] : (0..<section.partitions).map(partitionQueue)
    }

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

    struct ExchangeSpec {
        let name: String
        let type: ExchangeType
        var arguments: FieldTable = [:]
    }

    struct QueueSpec {
        let name: String
        let arguments: FieldTable
    }

    struct BindingSpec {
        let source: String
        let destination: String
        let routingKey: String
        /// An exchange-to-exchange binding (`exchange.bind`).
        let toExchange: Bool
    }

    var exchanges: [ExchangeSpec] {
        var list = [
            ExchangeSpec(name: section.commandsExchange, type: .direct), ExchangeSpec(name: section.resultsExchange, type: .topic),
            ExchangeSpec(name: section.deadLetterExchange, type: .topic),
        ]
        if section.partitions > 0 {
            list.append(ExchangeSpec(name: unkeyedExchange, type: .fanout))
            list.append(
                ExchangeSpec(
                    name: partitionedExchange, type: ExchangeType(rawValue: "x-consistent-hash"),
                    arguments: ["hash-header": .string(Self.callKeyHeader), "alternate-exchange": .string(unkeyedExchange)]))
        }
        return list
    }

    var queues: [QueueSpec] {
        let commands =
            section.partitions == 0
            ? [QueueSpec(name: section.commandsQueue, arguments: commandsQueueArguments)]
            // Highest first: p0 exists only once every partition does, so a declare the broker
            // stopped partway (a transient 541 on one queue, a killed process) is not taken for a
            // smaller partition count by the next attempt (PartitionCount.swift).
            : (0..<section.partitions).reversed().map { QueueSpec(name: partitionQueue($0), arguments: partitionQueueArguments) }
        return commands + [
            // Partitions keep per-call order with one active consumer per queue; so does the batch queue.
            QueueSpec(name: batchQueue, arguments: section.partitions == 0 ? commandsQueueArguments : partitionQueueArguments),
            QueueSpec(name: section.deadLetterQueue, arguments: deadLetterQueueArguments),
            QueueSpec(name: settledQueue, arguments: deadLetterQueueArguments),
        ]
    }

    var bindings: [BindingSpec] {
        var list: [BindingSpec]
        if section.partitions == 0 {
            list = [
                BindingSpec(
                    source: section.commandsExchange, destination: section.commandsQueue, routingKey: section.commandsRoutingKey, toExchange: false)
            ]
        } else {
            list = [
                BindingSpec(
                    source: section.commandsExchange, destination: partitionedExchange, routingKey: section.commandsRoutingKey, toExchange: true)
            ]
            // The consistent-hash exchange reads a binding's routing key as its weight.
            list += (0..<section.partitions).map {
                BindingSpec(source: partitionedExchange, destination: partitionQueue($0), routingKey: "1", toExchange: false)
            }
            list.append(BindingSpec(source: unkeyedExchange, destination: partitionQueue(0), routingKey: "", toExchange: false))
        }
        list.append(BindingSpec(source: section.commandsExchange, destination: batchQueue, routingKey: Self.batchRoutingKey, toExchange: false))
        list.append(BindingSpec(source: section.deadLetterExchange, destination: section.deadLetterQueue, routingKey: "#", toExchange: false))
        return list
    }

    /// Every exchange, queue and binding, in declaration order.
    public var entities: [Entity] {
        exchanges.map { exchange in
            let arguments = exchange.arguments.isEmpty ? "" : ", " + Self.describe(exchange.arguments)
            return Entity(kind: .exchange, name: exchange.name, details: "\(exchange.type), durable\(arguments)")
        }
            + queues.map { Entity(kind: .queue, name: $0.name, details: "durable, " + Self.describe($0.arguments)) }
            + bindings.map { binding in
                let key = binding.source == partitionedExchange ? "weight \(binding.routingKey)" : "routing key \(binding.routingKey)"
                return Entity(
                    kind: .binding, name: "\(binding.source) → \(binding.destination)",
                    details: binding.routingKey.isEmpty ? "fanout" : key + (binding.toExchange ? ", exchange to exchange" : ""))
            }
    }

    static func describe(_ arguments: FieldTable) -> String {
        arguments.map { entry in
            switch entry.value {
            case .string(let text): return "\(entry.key)=\(text)"
            case .bool(let flag): return "\(entry.key)=\(flag)"
            default: return "\(entry.key)=\(entry.value.intValue.map(String.init) ?? "\(entry.value)")"
            }
        }.joined(separator: ", ")
    }

    /// Declares everything (idempotent when it already exists as specified); one line per entity.
    /// - Throws: ``Problem`` naming the entity that exists with other arguments, or the missing
    ///   consistent-hash plugin.
    /// - Parameter routingCommands: false leaves out the binding that routes the commands exchange
    ///   into the partitions, for `topology repartition`, which moves the waiting commands in first.
    @discardableResult
    public func declare(on connection: AMQPConnection, routingCommands: Bool = true) async throws -> [String] {
        var channel = try await connection.openChannel()
        for exchange in exchanges {
            do {
                try await channel.declareExchange(exchange.name, type: exchange.type, arguments: exchange.arguments)
            } catch {
                if error.replyCode == 503, exchange.name == partitionedExchange {
                    throw Problem(description: Self.pluginMissing(error))
                }
                guard error.replyCode == 406 else { throw error }
                throw Problem(description: "exchange \(exchange.name) exists with other settings: \(error)")
            }
        }
        var notes: [String] = []
        for queue in queues {
            do {
                try await declareQueue(queue.name, arguments: queue.arguments, channel: channel)
            } catch let problem as Problem where queue.name == section.deadLetterQueue {
                // Dead letters keep landing in the earlier version's queue, so nothing is lost;
                // the operator tools refuse to read it until it is migrated.
                guard try await Self.isEarlierQuorumQueue(queue.name, on: connection) else { throw problem }
                notes.append("queue \(queue.name): the quorum queue of an earlier version, kept as it is; \(Self.migrateHint)")
                channel = try await connection.openChannel()
            }
        }
        let commandsRoute = { (binding: BindingSpec) in
            binding.source == section.commandsExchange && binding.routingKey == section.commandsRoutingKey
        }
        for binding in bindings where routingCommands || !commandsRoute(binding) {
            if binding.toExchange {
                try await channel.bindExchange(binding.destination, to: binding.source, routingKey: binding.routingKey)
            } else {
                try await channel.bindQueue(binding.destination, exchange: binding.source, routingKey: binding.routingKey)
            }
        }
        try? await channel.close()
        return entities.map { "\($0.kind.rawValue) \($0.name): declared (\($0.details))" } + notes
    }

    /// True when the existing queue `name` is a quorum queue as waves 1 and 2 declared it: a
    /// declare with just that type succeeds (a broker names only the first argument that differs
    /// in a 406, so its text cannot tell).
    public static func isEarlierQuorumQueue(_ name: String, on connection: AMQPConnection) async throws -> Bool {
        let probe = try await connection.openChannel()
        do {
            _ = try await probe.declareQueue(name, durable: true, arguments: ["x-queue-type": .string("quorum")])
            try? await probe.close()
            return true
        } catch {
            guard error.replyCode == 406 else { throw error }
            return false
        }
    }
    /// The way from the earlier dead-letter queue to the stream.
    public static let migrateHint =
        "run `workmode-gateway dead-letters migrate` to move its letters into a stream (docs/dead-letters.md)"

    static func pluginMissing(_ error: AMQPError) -> String {
        "topology.partitions needs RabbitMQ's consistent-hash exchange: run `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange` on every node (\(error))"
    }

    private func declareQueue(_ name: String, arguments: FieldTable, channel: AMQPChannel) async throws {
        do {
            _ = try await channel.declareQueue(name, durable: true, arguments: arguments)
        } catch {
            guard error.replyCode == 406 else { throw error }
            throw Problem(
                description:
                    "queue \(name) exists with other arguments (\(error)); delete it, or set topology.declare: false to use it as it is after a passive check"
            )
        }
    }

    /// Checks that every exchange and queue exists; returns one line per entity checked, and
    /// whether the batch queue is there. Its absence alone is not fatal: a topology provisioned
    /// before the batch queue existed still runs, with live commands only.
    /// - Throws: ``Problem`` naming every other missing entity.
    public func check(on connection: AMQPConnection) async throws -> (lines: [String], hasBatchQueue: Bool) {
        let lines = try await check(on: connection, verifyArguments: false)
        let batchMissing = "queue \(batchQueue) is missing"
        // The settlement stream serves the operator tools only, which name it when it is missing.
        let settledMissing = "queue \(settledQueue) is missing"
        let missing = lines.filter { !$0.ok && !$0.line.hasPrefix(batchMissing) && !$0.line.hasPrefix(settledMissing) }.map(\.line)
        guard missing.isEmpty else { throw Problem(description: missing.joined(separator: "; ")) }
        return (lines.map(\.line), !lines.contains { $0.line.hasPrefix(batchMissing) })
    }

    /// One line of `topology check`.
    public struct CheckLine: Sendable {
        /// What was found.
        public let line: String
        /// False when the entity is missing or differs.
        public let ok: Bool
    }

    /// The operator's check: existence passively, then, with `verifyArguments`, whether each
    /// exchange and queue has the type and arguments specified. AMQP 0-9-1 cannot read an
    /// entity's arguments back, so the check re-declares an entity that already exists with the
    /// wanted arguments: the broker answers 406 when they differ and changes nothing either way.
    /// Bindings cannot be inspected over AMQP at all; they are listed as such.
    /// A missing entity is a line that is not ok; the check goes on, so one run names them all.
    public func check(on connection: AMQPConnection, verifyArguments: Bool) async throws -> [CheckLine] {
        var report: [CheckLine] = []
        for exchange in exchanges {
            let channel = try await connection.openChannel()
            do {
                try await channel.checkExchange(exchange.name)
                try? await channel.close()
            } catch {
                report.append(CheckLine(line: "exchange \(exchange.name) is missing (\(error))", ok: false))
                continue
            }
            let wanted = "\(exchange.type), durable" + (exchange.arguments.isEmpty ? "" : ", " + Self.describe(exchange.arguments))
            guard verifyArguments else {
                report.append(CheckLine(line: "exchange \(exchange.name): ok", ok: true))
                continue
            }
            let verifier = try await connection.openChannel()
            do {
                try await verifier.declareExchange(exchange.name, type: exchange.type, arguments: exchange.arguments)
                try? await verifier.close()
                report.append(CheckLine(line: "exchange \(exchange.name): ok (\(wanted))", ok: true))
            } catch {
                guard error.replyCode == 406 else { throw error }
                report.append(CheckLine(line: "exchange \(exchange.name): DIFFERS, not \(wanted) (\(error))", ok: false))
            }
        }
        for queue in queues {
            let channel = try await connection.openChannel()
            let info: QueueInfo
            do {
                info = try await channel.checkQueue(queue.name)
                try? await channel.close()
            } catch {
                report.append(CheckLine(line: "queue \(queue.name) is missing (\(error))", ok: false))
                continue
            }
            let counts = "\(info.messageCount) messages, \(info.consumerCount) consumers"
            guard verifyArguments else {
                report.append(CheckLine(line: "queue \(queue.name): ok, \(counts)", ok: true))
                continue
            }
            let verifier = try await connection.openChannel()
            do {
                _ = try await verifier.declareQueue(queue.name, durable: true, arguments: queue.arguments)
                try? await verifier.close()
                report.append(CheckLine(line: "queue \(queue.name): ok (durable, \(Self.describe(queue.arguments))), \(counts)", ok: true))
            } catch {
                guard error.replyCode == 406 else { throw error }
                let earlier = queue.name == section.deadLetterQueue ? try await Self.isEarlierQuorumQueue(queue.name, on: connection) : false
                let hint = earlier ? "; " + Self.migrateHint : ""
                report.append(
                    CheckLine(
                        line: "queue \(queue.name): DIFFERS from durable, \(Self.describe(queue.arguments)) (\(error)), \(counts)\(hint)", ok: false
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
