import AMQP
import Foundation
import Gateway
import Synchronization
import WorkModeDomain

/// `publish`: the batch-transfer-job tool. Validates the whole file first (nothing is published
/// from a file with a bad line unless asked), then publishes with pipelined confirms, optionally
/// paced, and optionally waits for the result events of what it published.
public struct BatchPublisher {
    public struct Options: Sendable {
        public var skipInvalid = false
        /// Messages per second; nil is as fast as the broker confirms.
        public var rate: Double?
        /// `x-deadline` for every command: a duration from now (`10m`) or an RFC 3339 time.
        public var deadline: String?
        /// correlation_id = prefix + "-" + the record's line number.
        public var correlationPrefix: String?
        public var waitResults = false
        public var resultsTimeout: Duration = .seconds(300)
        /// Publishes awaiting their confirm at most.
        public var window = 1000

        public init() {}
    }

    public struct Summary: Sendable {
        public var published = 0
        public var confirmed = 0
        public var returned = 0
        public var nacked = 0
        public var skippedInvalid = 0
        public var results: [String: Int] = [:]
        public var missingResults = 0
    }

    let context: OperatorContext
    let options: Options

    public init(context: OperatorContext, options: Options) {
        self.context = context
        self.options = options
    }

    public func run(_ file: CommandFile, say: @escaping (String) -> Void) async throws -> Summary {
        let decoder = context.decoder
        let validation = try BatchValidation(decoder: decoder).run(file) { say($0) }
        if validation.invalid > 0 && !options.skipInvalid {
            throw OperatorError(.invalidInput, "refused: \(validation.invalid) of \(validation.records) commands are invalid; nothing was published (--skip-invalid publishes the valid ones)")
        }
        let deadlineHeader = try options.deadline.map { text throws(OperatorError) in try Self.deadline(text) }
        let topology = context.configuration.topology
        let connection = try await context.connect(as: "publish")
        defer { Task { await connection.close() } }
        let channel = try await connection.openChannel(publisherConfirms: true)
        let results = options.waitResults ? try await ResultWatcher.start(connection: connection, exchange: topology.resultsExchange) : nil

        var summary = Summary()
        summary.skippedInvalid = validation.invalid
        let progress = Progress(total: validation.valid, label: "published")
        var pending: [(PublishConfirmation, String)] = []
        var pendingHead = 0
        func settleOldest() async throws {
            let (confirmation, _) = pending[pendingHead]
            pendingHead += 1
            if pendingHead > 4096 {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            switch try await confirmation.outcome() {
            case .acked: summary.confirmed += 1
            case .nacked: summary.nacked += 1
            case .returned: summary.returned += 1
            }
        }
        let started = ContinuousClock.now
        let timestamp = UInt64(Date().timeIntervalSince1970)
        let records = try file.makeRecordReader()
        while let record = try records.next() {
            if case .failure = decoder.decode(record.body) { continue }
            if let rate = options.rate, rate > 0 {
                let due = started + .milliseconds(Int64(Double(summary.published) / rate * 1000))
                if due > ContinuousClock.now { try await Task.sleep(until: due) }
            }
            let id = record.messageId ?? UUID().uuidString.lowercased()
            var headers = FieldTable()
            if let deadlineHeader { headers["x-deadline"] = .string(deadlineHeader) }
            let properties = MessageProperties(
                contentType: "application/json", headers: headers.isEmpty ? nil : headers, deliveryMode: .persistent,
                correlationId: options.correlationPrefix.map { "\($0)-\(record.line)" }, messageId: id, timestamp: timestamp,
                appId: "workmode-gateway publish"
            )
            results?.expect(id)
            let confirmation = try channel.publish(
                record.body, exchange: topology.commandsExchange, routingKey: topology.commandsRoutingKey, mandatory: true, properties: properties
            )
            pending.append((confirmation, id))
            summary.published += 1
            if pending.count - pendingHead >= options.window { try await settleOldest() }
            progress.update(summary.published)
        }
        while pendingHead < pending.count { try await settleOldest() }
        progress.finish(summary.published)
        let elapsed = (ContinuousClock.now - started).timeInterval
        say("published \(summary.published) commands in \(String(format: "%.1f", elapsed)) s (\(Int(Double(summary.published) / max(elapsed, 0.001)))/s): \(summary.confirmed) confirmed, \(summary.returned) returned, \(summary.nacked) nacked" + (summary.skippedInvalid > 0 ? ", \(summary.skippedInvalid) invalid skipped" : ""))
        if let results {
            let (statuses, missing) = await results.wait(timeout: options.resultsTimeout)
            summary.results = statuses
            summary.missingResults = missing
            let parts = statuses.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            say("results: " + (parts.isEmpty ? "none" : parts.joined(separator: ", ")) + (missing > 0 ? "; \(missing) without a result after \(DurationText.format(options.resultsTimeout))" : ""))
            await results.stop()
        }
        return summary
    }

    static func deadline(_ text: String, now: Date = Date()) throws(OperatorError) -> String {
        if let duration = DurationText.parse(text) { return RFC3339.format(now.addingTimeInterval(duration.timeInterval)) }
        if RFC3339.parse(text) != nil { return text }
        throw OperatorError(.usage, "--deadline \(text): not a duration (10m, 90s) nor an RFC 3339 time")
    }
}

/// Collects the result events of the commands a publish sent, by command ID. Results may arrive
/// before their ID is noted as expected (the gateway can be faster than the bookkeeping).
final class ResultWatcher: Sendable {
    private struct Seen {
        var expected = Set<String>()
        var statuses: [String: String] = [:]
    }

    private let seen: Mutex<Seen>
    private let channel: AMQPChannel
    private let consumer: AMQPConsumer
    private let reader = Mutex<Task<Void, Never>?>(nil)

    private init(channel: AMQPChannel, consumer: AMQPConsumer) {
        self.channel = channel
        self.consumer = consumer
        self.seen = Mutex(Seen())
    }

    static func start(connection: AMQPConnection, exchange: String) async throws -> ResultWatcher {
        let channel = try await connection.openChannel()
        let queue = "workmode-gateway.publish-results-" + UUID().uuidString.lowercased()
        try await channel.declareQueue(queue, durable: false, exclusive: true, autoDelete: true)
        try await channel.bindQueue(queue, exchange: exchange, routingKey: "#")
        let watcher = ResultWatcher(channel: channel, consumer: try await channel.consume(queue: queue))
        watcher.reader.withLock { $0 = Task { await watcher.read() } }
        return watcher
    }

    private func read() async {
        do {
            for try await delivery in consumer {
                try? channel.ack(delivery)
                guard let event = FlatJSONObject(parsing: delivery.body), let id = event.string("commandId"),
                    let status = event.string("status")
                else { continue }
                // The first result counts; a re-published copy says the same.
                seen.withLock { if $0.statuses[id] == nil { $0.statuses[id] = status } }
            }
        } catch {}
    }

    func expect(_ id: String) { seen.withLock { _ = $0.expected.insert(id) } }

    /// Statuses counted over the expected IDs, and how many had no result by the timeout.
    func wait(timeout: Duration) async -> ([String: Int], Int) {
        let end = ContinuousClock.now + timeout
        while true {
            let (counts, missing) = seen.withLock { seen -> ([String: Int], Int) in
                var counts: [String: Int] = [:]
                var missing = 0
                for id in seen.expected {
                    if let status = seen.statuses[id] { counts[status, default: 0] += 1 } else { missing += 1 }
                }
                return (counts, missing)
            }
            if missing == 0 || ContinuousClock.now >= end { return (counts, missing) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func stop() async {
        reader.withLock { $0?.cancel() }
        try? await channel.close()
    }
}
