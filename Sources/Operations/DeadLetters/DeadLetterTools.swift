import AMQP
import Foundation
import GatewayConfig
import WorkModeDomain

/// `dead-letters list|replay|purge`, over the dead-letter stream and its settlement records
/// (``DeadLetterStore``). A listing reads both streams and changes nothing; a replay or purge
/// takes the settle lock, reads, acts on the open letters the filter matches, and appends one
/// settlement record per letter, so a second settler, before or after, never acts on it again.
public struct DeadLetterTools: Sendable {
    let context: OperatorContext
    let filter: DeadLetterFilter

    /// The tools over the configured dead letters, limited to what `filter` matches.
    public init(context: OperatorContext, filter: DeadLetterFilter) {
        self.context = context
        self.filter = filter
    }

    var queue: String { context.configuration.topology.deadLetterQueue }
    var store: DeadLetterStore { DeadLetterStore(topology: Topology(context.configuration.topology)) }

    // MARK: - list

    /// What `list` found.
    public struct Listing: Sendable {
        /// Open dead letters read.
        public var scanned = 0
        /// Open dead letters that matched the filter.
        public var matched = 0
        /// "class: reason" → count.
        public var groups: [String: Int] = [:]
    }

    /// The open dead letters as read at one moment, on a connection of its own; a failure
    /// becomes one line by `describe`.
    private func openLetters(as tool: String) async throws -> [DeadLetter] {
        try await withConnection(as: tool) { connection in
            do {
                return try await store.snapshot(on: connection).open
            } catch let error as OperatorError {
                throw error
            } catch {
                throw OperatorError(.runtime, "cannot read \(queue): \(error)")
            }
        }
    }

    /// Shows matching dead letters, and leaves the queue as it was.
    public func list(limit: Int?, json: Bool, say: (String) -> Void) async throws -> Listing {
        var listing = Listing()
        for letter in try await openLetters(as: "dead-letters list") {
            listing.scanned += 1
            guard filter.matches(letter) else { continue }
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
        /// When the oldest open dead letter was dead-lettered: the first to go when retention ends.
        public var oldest: Date?
    }

    /// `list` for the console: the same reading, leaving the queue as it was, with each match as
    /// a record (credentials masked) instead of a printed line.
    public func browse(limit: Int) async throws -> Browse {
        var browse = Browse()
        var groups: [String: (String, String, Int)] = [:]
        for letter in try await openLetters(as: "dead-letter console") {
            browse.scanned += 1
            if let at = letter.deadLetteredAt, browse.oldest.map({ at < $0 }) ?? true { browse.oldest = at }
            guard filter.matches(letter) else { continue }
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

    /// Runs `body` on a connection of its own, closed afterwards whatever happens.
    private func withConnection<Value: Sendable>(as tool: String, _ body: (AMQPConnection) async throws -> Value) async throws -> Value {
        let connection = try await context.connect(as: tool)
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs `body` holding the settle lock, with the open letters as read after taking it.
    private func settling<Value: Sendable>(
        as tool: String, describe: @escaping (any Error) -> String, _ body: (AMQPConnection, [DeadLetter]) async throws -> Value
    ) async throws -> Value {
        try await withConnection(as: tool) { connection in
            do {
                try await SettleLock(name: Topology(context.configuration.topology).settleLockQueue).take(on: connection)
                let open = try await store.snapshot(on: connection).open
                return try await body(connection, open)
            } catch let error as OperatorError {
                throw error
            } catch {
                throw OperatorError(.runtime, describe(error))
            }
        }
    }

    // MARK: - replay

    /// What `replay` did.
    public struct Replay: Sendable {
        /// Open dead letters read.
        public var scanned = 0
        /// Republished and confirmed, then settled.
        public var replayed = 0
        /// Left at `--max-redrives`.
        public var refused = 0
        /// Could not be published; left open.
        public var failed = 0
        /// The keys of those replayed.
        public var replayedKeys: [String] = []
        /// Left at the redrive cap.
        public var refusedKeys: [String] = []
        /// Could not be published.
        public var failedKeys: [String] = []
    }

    /// Sends matching open dead letters back where they came from, one at a time: republish, wait
    /// for the broker's confirm, then append the settlement record and wait for its confirm.
    /// Killed between the two confirms, that one letter stays open though it was republished (a
    /// later replay would send it again; the gateway's completion journal answers a command it
    /// already finished with its stored result). No letter is ever lost.
    public func replay(dryRun: Bool, rate: Double?, maxRedrives: Int, say: (String) -> Void) async throws -> Replay {
        let topology = context.configuration.topology
        var replay = Replay()
        let started = ContinuousClock.now
        return try await settling(
            as: "dead-letters replay",
            describe: { "replay stopped: \($0) (\(replay.replayed) replayed before; nothing unconfirmed was settled)" }
        ) { connection, open in
            var publisher = try await connection.openChannel(publisherConfirms: true)
            for letter in open {
                replay.scanned += 1
                guard filter.matches(letter) else { continue }
                guard letter.redriveCount < maxRedrives else {
                    replay.refused += 1
                    replay.refusedKeys.append(letter.key)
                    say("refused \(letter.messageId): replayed \(letter.redriveCount) times already (--max-redrives \(maxRedrives))")
                    continue
                }
                let (exchange, routingKey) = letter.origin(defaultExchange: topology.commandsExchange, defaultRoutingKey: topology.commandsRoutingKey)
                if dryRun {
                    replay.replayed += 1
                    say("would replay \(letter.messageId) to \(exchange) / \(routingKey): \(letter.failureClass), \(letter.reason)")
                    continue
                }
                if let rate, rate > 0 {
                    let due = started + .milliseconds(Int64(Double(replay.replayed) / rate * 1000))
                    if due > ContinuousClock.now { try await Task.sleep(until: due) }
                }
                var properties = letter.delivery.properties
                properties.headers = letter.replayHeaders()
                let outcome: String
                do {
                    let answer = try await publisher.publishAndConfirm(
                        letter.delivery.body, exchange: exchange, routingKey: routingKey, mandatory: true, properties: properties)
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
                    continue
                }
                try await store.settle(letter, action: "replayed", by: "dead-letters replay", on: publisher)
                replay.replayed += 1
                replay.replayedKeys.append(letter.key)
            }
            say(
                "\(dryRun ? "would replay" : "replayed") \(replay.replayed), refused \(replay.refused) at the redrive limit, \(replay.failed) could not be published, \(replay.scanned) scanned"
            )
            return replay
        }
    }

    // MARK: - purge

    /// How many open dead letters match (for the confirmation question).
    public func count() async throws -> Int {
        try await openLetters(as: "dead-letters purge").filter(filter.matches).count
    }

    /// Settles the matching open dead letters as purged; the others stay.
    public func purge(say: (String) -> Void) async throws -> Int {
        try await purgeMatching(say: say).count
    }

    /// Settles the matching open dead letters as purged and returns their keys; the others stay.
    /// A purged letter is no longer shown or replayed; the stream itself drops it with retention.
    public func purgeMatching(say: (String) -> Void) async throws -> [String] {
        var deleted: [String] = []
        return try await settling(as: "dead-letters purge", describe: { "purge stopped after \(deleted.count) deleted: \($0)" }) { connection, open in
            let publisher = try await connection.openChannel(publisherConfirms: true)
            for letter in open where filter.matches(letter) {
                try await store.settle(letter, action: "purged", by: "dead-letters purge", on: publisher)
                deleted.append(letter.key)
            }
            say("deleted \(deleted.count) dead letters from \(queue)")
            return deleted
        }
    }
}

extension DeadLetterTools {
    /// The open dead letters matching the filter as read now, each with its stream offset, for
    /// tools and tests that need the messages themselves. Reading changes nothing.
    public func openDeliveries() async throws -> [(offset: Int64, delivery: Delivery)] {
        try await openLetters(as: "dead-letters read").filter(filter.matches).map { ($0.offset ?? -1, $0.delivery) }
    }
}
