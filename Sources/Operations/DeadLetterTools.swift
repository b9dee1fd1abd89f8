import AMQP
import Foundation
import GatewayConfig
import WorkModeDomain

/// `dead-letters list|replay|purge`. All three read the dead-letter queue with basic.get on a
/// channel of their own and keep what they do not settle unacknowledged until they finish; closing
/// that channel hands those back to the queue. Each reads at most the number of messages the queue
/// held when it started, so what arrives meanwhile (a replayed command failing again) is left for
/// the next run instead of looping.
public struct DeadLetterTools: Sendable {
    let context: OperatorContext
    let filter: DeadLetterFilter

    /// The tools over the configured dead-letter queue, limited to what `filter` matches.
    public init(context: OperatorContext, filter: DeadLetterFilter) {
        self.context = context
        self.filter = filter
    }

    var queue: String { context.configuration.topology.deadLetterQueue }

    // MARK: - list

    /// What `list` found.
    public struct Listing: Sendable {
        /// Dead letters read.
        public var scanned = 0
        /// Dead letters that matched the filter.
        public var matched = 0
        /// "class: reason" → count.
        public var groups: [String: Int] = [:]
    }

    /// The one reading loop all three share: basic.get up to the depth the queue had at the start,
    /// `body` for each delivery (what it does not ack goes back when the channel closes), and a
    /// failure turned into one line by `describe`.
    private func scan(
        as tool: String, describe: (any Error) -> String, setup: (AMQPConnection) async throws -> Void = { _ in },
        _ body: (Delivery, AMQPChannel) async throws -> Void
    ) async throws {
        let connection = try await context.connect(as: tool)
        do {
            try await setup(connection)
            let reader = try await connection.openChannel()
            let depth = try await reader.checkQueue(queue).messageCount
            var scanned: UInt32 = 0
            while scanned < depth, let delivery = try await reader.get(queue: queue) {
                scanned += 1
                try await body(delivery, reader)
            }
            try? await reader.close()
        } catch {
            await connection.close()
            throw OperatorError(.runtime, describe(error))
        }
        await connection.close()
    }

    /// Shows matching dead letters, and leaves the queue as it was.
    public func list(limit: Int?, json: Bool, say: (String) -> Void) async throws -> Listing {
        var listing = Listing()
        // Nothing is acked: closing the channel puts every message back.
        try await scan(as: "dead-letters list", describe: { "cannot read \(queue): \($0)" }) { delivery, _ in
            listing.scanned += 1
            let letter = DeadLetter(delivery: delivery)
            guard filter.matches(letter) else { return }
            listing.matched += 1
            listing.groups["\(letter.failureClass): \(Self.reasonGroup(letter.reason))", default: 0] += 1
            if limit.map({ listing.matched <= $0 }) ?? true { say(json ? letter.json() : letter.line()) }
        }
        if !json {
            say(
                "\(listing.matched) of \(listing.scanned) dead letters match"
                    + (limit.map { listing.matched > $0 ? " (first \($0) shown)" : "" } ?? ""))
            for (group, count) in listing.groups.sorted(by: { $0.value > $1.value }) { say(String(format: "%7d  ", count) + group) }
        }
        return listing
    }

    /// What `browse` found: the counts over every match, and the first matches in full.
    public struct Browse: Sendable {
        /// Dead letters read.
        public var scanned = 0
        /// Dead letters that matched the filter.
        public var matched = 0
        /// Matches by class and reason group, most first.
        public var groups: [(failureClass: String, reason: String, count: Int)] = []
        /// The first `limit` matches, in queue order.
        public var records: [DeadLetterRecord] = []
    }

    /// `list` for the console: the same reading, leaving the queue as it was, with each match as
    /// a record (credentials masked) instead of a printed line.
    public func browse(limit: Int) async throws -> Browse {
        var browse = Browse()
        var groups: [String: (String, String, Int)] = [:]
        try await scan(as: "dead-letter console", describe: { "cannot read \(queue): \($0)" }) { delivery, _ in
            browse.scanned += 1
            let letter = DeadLetter(delivery: delivery)
            guard filter.matches(letter) else { return }
            browse.matched += 1
            let reason = Self.reasonGroup(letter.reason)
            groups["\(letter.failureClass)\u{1F}\(reason)", default: (letter.failureClass, reason, 0)].2 += 1
            if browse.records.count < limit { browse.records.append(DeadLetterRecord(letter)) }
        }
        browse.groups = groups.values.sorted { $0.2 != $1.2 ? $0.2 > $1.2 : ($0.0, $0.1) < ($1.0, $1.1) }.map { ($0.0, $0.1, $0.2) }
        return browse
    }

    /// Reasons carry per-command detail (numbers, IDs); grouping uses the text before the first
    /// colon, which names the kind of failure.
    static func reasonGroup(_ reason: String) -> String {
        let head = reason.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reason
        return head.count > 80 ? String(head.prefix(80)) + "…" : head
    }

    // MARK: - replay

    /// What `replay` did.
    public struct Replay: Sendable {
        /// Dead letters read.
        public var scanned = 0
        /// Republished and confirmed (then acked).
        public var replayed = 0
        /// Left at `--max-redrives`.
        public var refused = 0
        /// Could not be published; left in the queue.
        public var failed = 0
        /// The keys of those replayed, refused and failed, in that order of fields.
        public var replayedKeys: [String] = []
        /// Left at the redrive cap.
        public var refusedKeys: [String] = []
        /// Could not be published.
        public var failedKeys: [String] = []
    }

    /// Moves matching dead letters back where they came from, one at a time: republish, wait for
    /// the broker's confirm, then ack the dead letter. Killed at any point, at most the one message
    /// in flight exists twice; none is lost.
    public func replay(dryRun: Bool, rate: Double?, maxRedrives: Int, say: (String) -> Void) async throws -> Replay {
        let topology = context.configuration.topology
        var replay = Replay()
        var publisher: AMQPChannel?
        var connection: AMQPConnection?
        let started = ContinuousClock.now
        try await scan(
            as: "dead-letters replay",
            describe: { "replay stopped: \($0) (\(replay.replayed) replayed before; nothing unconfirmed was acked)" },
            setup: {
                connection = $0
                publisher = try await $0.openChannel(publisherConfirms: true)
            }
        ) { delivery, reader in
            replay.scanned += 1
            let letter = DeadLetter(delivery: delivery)
            guard filter.matches(letter) else { return }
            guard letter.redriveCount < maxRedrives else {
                replay.refused += 1
                replay.refusedKeys.append(letter.key)
                say("refused \(letter.messageId): replayed \(letter.redriveCount) times already (--max-redrives \(maxRedrives))")
                return
            }
            let (exchange, routingKey) = letter.origin(defaultExchange: topology.commandsExchange, defaultRoutingKey: topology.commandsRoutingKey)
            if dryRun {
                replay.replayed += 1
                say("would replay \(letter.messageId) to \(exchange) / \(routingKey): \(letter.failureClass), \(letter.reason)")
                return
            }
            if let rate, rate > 0 {
                let due = started + .milliseconds(Int64(Double(replay.replayed) / rate * 1000))
                if due > ContinuousClock.now { try await Task.sleep(until: due) }
            }
            var properties = delivery.properties
            properties.headers = letter.replayHeaders()
            guard let channel = publisher, let connection else { throw OperatorError(.runtime, "no publishing channel") }
            let outcome: String
            do {
                let answer = try await channel.publishAndConfirm(
                    delivery.body, exchange: exchange, routingKey: routingKey, mandatory: true, properties: properties
                )
                outcome = answer == .acked ? "" : "\(answer)"
            } catch {
                // A missing exchange (404) closes the channel, not the connection: one dead letter
                // whose origin is gone must not stop the replay of every one behind it.
                guard connection.isOpen else { throw error }
                outcome = "\(error)"
                publisher = try await connection.openChannel(publisherConfirms: true)
            }
            guard outcome.isEmpty else {
                replay.failed += 1
                replay.failedKeys.append(letter.key)
                say("could not replay \(letter.messageId) to \(exchange) / \(routingKey): \(outcome); it stays dead-lettered")
                return
            }
            try reader.ack(delivery)
            replay.replayed += 1
            replay.replayedKeys.append(letter.key)
        }
        say(
            "\(dryRun ? "would replay" : "replayed") \(replay.replayed), refused \(replay.refused) at the redrive limit, \(replay.failed) could not be published, \(replay.scanned) scanned"
        )
        return replay
    }

    // MARK: - purge

    /// How many dead letters match (for the confirmation question).
    public func count() async throws -> Int {
        var matched = 0
        try await scan(as: "dead-letters purge", describe: { "cannot read \(queue): \($0)" }) { delivery, _ in
            if filter.matches(DeadLetter(delivery: delivery)) { matched += 1 }
        }
        return matched
    }

    /// Deletes the matching dead letters; the others stay.
    public func purge(say: (String) -> Void) async throws -> Int {
        try await purgeMatching(say: say).count
    }

    /// Deletes the matching dead letters and returns their keys; the others stay.
    public func purgeMatching(say: (String) -> Void) async throws -> [String] {
        var deleted: [String] = []
        try await scan(as: "dead-letters purge", describe: { "purge stopped after \(deleted.count) deleted: \($0)" }) { delivery, reader in
            let letter = DeadLetter(delivery: delivery)
            guard filter.matches(letter) else { return }
            try reader.ack(delivery)
            deleted.append(letter.key)
        }
        say("deleted \(deleted.count) dead letters from \(queue)")
        return deleted
    }
}
