import AMQP
import Foundation
import GatewayConfig
import Synchronization
import WorkModeDomain

/// `publish`: the batch-transfer-job tool. Validates the whole file first (nothing is published
/// from a file with a bad line unless asked), then publishes with pipelined confirms, optionally
/// paced, and optionally waits for the result events of what it published.
public struct BatchPublisher {
    /// How `publish` runs.
    public struct Options: Sendable {
        /// `--skip-invalid`: publish the valid lines of a file with invalid ones.
        public var skipInvalid = false
        /// Messages per second; nil is as fast as the broker confirms.
        public var rate: Double?
        /// `x-deadline` for every command: a duration from now (`10m`) or an RFC 3339 time.
        public var deadline: String?
        /// correlation_id = prefix + "-" + the record's line number.
        public var correlationPrefix: String?
        /// `--wait-results`.
        public var waitResults = false
        /// `--results-timeout`.
        public var resultsTimeout: Duration = .seconds(300)
        /// Publishes awaiting their confirm at most.
        public var window = 1000
        /// Continue after the last line an earlier run of the same file had confirmed.
        public var resume = false
        /// `--live`: publish with the live routing key (`topology.commandsRoutingKey`) instead of
        /// `batch`, so the commands do not wait behind batch jobs.
        public var live = false
        /// Where progress is kept; default `<file>.progress` (none for standard input).
        public var progressPath: String?
        /// Set by SIGINT/SIGTERM: stop reading, settle what is out, record how far it got.
        public var interruption = Interruption()

        /// Defaults: every line validated, published as fast as confirmed, 1,000 awaiting confirms.
        public init() {}
    }

    /// A request to stop, from a signal handler to the publishing loop.
    public final class Interruption: Sendable {
        private let signal = Mutex<Int32?>(nil)
        /// No stop requested yet.
        public init() {}
        /// Asks the publish to stop after the current record; the first signal wins.
        public func stop(_ number: Int32) { signal.withLock { if $0 == nil { $0 = number } } }
        /// The signal that asked to stop, if any.
        public var requested: Int32? { signal.withLock { $0 } }
    }

    /// What a run did.
    public struct Summary: Sendable {
        /// Commands sent.
        public var published = 0
        /// Commands the broker confirmed.
        public var confirmed = 0
        /// Commands returned as unroutable.
        public var returned = 0
        /// Commands the broker refused.
        public var nacked = 0
        /// Invalid lines skipped (`--skip-invalid`).
        public var skippedInvalid = 0
        /// Result statuses counted (`--wait-results`).
        public var results: [String: Int] = [:]
        /// Commands without a result at the timeout.
        public var missingResults = 0
        /// Every line up to this one is on the queue (or was skipped as invalid).
        public var confirmedThroughLine = 0
        /// The file's last line with a record.
        public var lastLine = 0
        /// The signal that stopped the run early.
        public var interruptedBy: Int32?
        /// Where progress is kept, if anywhere.
        public var progressPath: String?
        /// True when every line of the file is on the queue.
        public var complete: Bool { interruptedBy == nil && returned == 0 && nacked == 0 && confirmedThroughLine >= lastLine }
    }

    let context: OperatorContext
    let options: Options
    /// How long a stopped publish waits for the confirms of what it had sent.
    static let interruptedConfirmWait: Duration = .seconds(10)

    /// A publisher with the operator's configuration and options.
    public init(context: OperatorContext, options: Options) {
        self.context = context
        self.options = options
    }

    /// Validates `file`, publishes it (after the lines an earlier run confirmed, with `--resume`), records progress, and waits for results when
    /// asked. Throws ``OperatorError`` for invalid input or a broker failure (after recording progress).
    public func run(_ file: CommandFile, say: @escaping (String) -> Void) async throws -> Summary {
        let decoder = context.decoder
        let validation = try BatchValidation(decoder: decoder, correlationPrefix: options.correlationPrefix).run(file) { say($0) }
        if validation.invalid > 0 && !options.skipInvalid {
            throw OperatorError(
                .invalidInput,
                "refused: \(validation.invalid) of \(validation.records) commands are invalid; nothing was published (--skip-invalid publishes the valid ones)"
            )
        }
        let deadlineHeader = try options.deadline.map { text throws(OperatorError) in try Self.deadline(text) }
        let contentHash = try BatchIdentity.contentHash(path: file.path)
        var summary = Summary()
        summary.skippedInvalid = validation.invalid
        summary.lastLine = validation.lastLine
        summary.progressPath = options.progressPath ?? (file.isStandardInput ? nil : PublishProgress.defaultPath(forInput: file.path))
        let startAfter = try resumePoint(progressPath: summary.progressPath, contentHash: contentHash, say: say)
        if let startAfter, startAfter.complete {
            summary.confirmedThroughLine = startAfter.confirmedThroughLine
            summary.lastLine = startAfter.confirmedThroughLine
            say("nothing to publish: every line of this file was confirmed by an earlier run (\(summary.progressPath ?? ""))")
            return summary
        }
        let skipThrough = startAfter?.confirmedThroughLine ?? 0
        summary.confirmedThroughLine = skipThrough

        let topology = context.configuration.topology
        let connection = try await context.connect(as: "publish")
        do {
            try await publishRecords(
                file, validation: validation, skipThrough: skipThrough, contentHash: contentHash, deadlineHeader: deadlineHeader,
                topology: topology, connection: connection, summary: &summary, say: say
            )
        } catch {
            saveProgress(summary, contentHash: contentHash, file: file, say: say)
            await connection.close()
            say(Self.report(summary))
            throw error
        }
        await connection.close()
        return summary
    }

    private func publishRecords(
        _ file: CommandFile, validation: BatchValidation.Summary, skipThrough: Int, contentHash: String, deadlineHeader: String?,
        topology: GatewayConfiguration.TopologySection, connection: AMQPConnection, summary: inout Summary, say: @escaping (String) -> Void
    ) async throws {
        let decoder = context.decoder
        let channel = try await connection.openChannel(publisherConfirms: true)
        let results = options.waitResults ? try await ResultWatcher.start(connection: connection, exchange: topology.resultsExchange) : nil
        let progress = Progress(total: validation.valid, label: "published")
        var pending: [(confirmation: PublishConfirmation, line: Int)] = []
        var pendingHead = 0
        var failed = false
        var lastSaved = ContinuousClock.now
        func settleOldest() async throws {
            let (confirmation, line) = pending[pendingHead]
            pendingHead += 1
            if pendingHead > 4096 {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            switch try await confirmation.outcome() {
            case .acked:
                summary.confirmed += 1
                // Confirms arrive in publish order, so every earlier line is settled too.
                if !failed { summary.confirmedThroughLine = line }
            case .nacked:
                summary.nacked += 1
                failed = true
            case .returned:
                summary.returned += 1
                failed = true
            }
        }
        let started = ContinuousClock.now
        let timestamp = UInt64(Date().timeIntervalSince1970)
        let records = try file.makeRecordReader()
        while let record = try records.next() {
            if options.interruption.requested != nil { break }
            guard record.line > skipThrough else { continue }
            if validation.invalidLines.contains(record.line) {
                if pendingHead == pending.count, !failed { summary.confirmedThroughLine = record.line }
                continue
            }
            // The validation pass saw this file; a file rewritten since would be caught here.
            guard case .success(let command) = decoder.decode(record.body) else { continue }
            if let rate = options.rate {
                let due = started + .milliseconds(Int64(Double(summary.published) / rate * 1000))
                if due > ContinuousClock.now { try await Task.sleep(until: due) }
            }
            let id = record.messageId ?? BatchIdentity.messageId(contentHash: contentHash, line: record.line)
            var headers = FieldTable()
            if let deadlineHeader { headers["x-deadline"] = .string(deadlineHeader) }
            headers[Topology.callKeyHeader] = .string(command.callKey)
            let properties = MessageProperties(
                contentType: "application/json", headers: headers, deliveryMode: .persistent,
                correlationId: options.correlationPrefix.map { BatchIdentity.correlationId(prefix: $0, line: record.line) }, messageId: id,
                timestamp: timestamp, appId: "workmode-gateway publish"
            )
            results?.expect(id)
            let confirmation = try channel.publish(
                record.body, exchange: topology.commandsExchange, routingKey: options.live ? topology.commandsRoutingKey : Topology.batchRoutingKey,
                mandatory: true,
                properties: properties
            )
            pending.append((confirmation, record.line))
            summary.published += 1
            if pending.count - pendingHead >= options.window { try await settleOldest() }
            progress.update(summary.published)
            if ContinuousClock.now - lastSaved >= .seconds(1) {
                // What the broker has already confirmed counts, without waiting for the window to fill.
                while pendingHead < pending.count, pending[pendingHead].confirmation.currentOutcome != nil { try await settleOldest() }
                saveProgress(summary, contentHash: contentHash, file: file, say: say)
                lastSaved = ContinuousClock.now
            }
        }
        if options.interruption.requested != nil {
            // Stopping: what was sent gets a bounded wait for its confirms (a broker that went
            // silent would otherwise hold the job until the heartbeat gives up).
            let end = ContinuousClock.now + Self.interruptedConfirmWait
            while pendingHead < pending.count, ContinuousClock.now < end {
                if pending[pendingHead].confirmation.currentOutcome != nil {
                    try await settleOldest()
                } else {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        }
        while pendingHead < pending.count, options.interruption.requested == nil { try await settleOldest() }
        summary.interruptedBy = options.interruption.requested
        if summary.interruptedBy == nil, !failed { summary.confirmedThroughLine = max(summary.confirmedThroughLine, summary.lastLine) }
        progress.finish(summary.published)
        saveProgress(summary, contentHash: contentHash, file: file, say: say)
        let elapsed = (ContinuousClock.now - started).timeInterval
        say(
            "published \(summary.published) commands in \(String(format: "%.1f", elapsed)) s (\(Int(Double(summary.published) / max(elapsed, 0.001)))/s): "
                + "\(summary.confirmed) confirmed, \(summary.returned) returned, \(summary.nacked) nacked"
                + (summary.skippedInvalid > 0 ? ", \(summary.skippedInvalid) invalid skipped" : "")
        )
        say(Self.report(summary))
        if let results, summary.interruptedBy == nil {
            let (statuses, missing) = await results.wait(timeout: options.resultsTimeout)
            summary.results = statuses
            summary.missingResults = missing
            let parts = statuses.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            say(
                "results: " + (parts.isEmpty ? "none" : parts.joined(separator: ", "))
                    + (missing > 0 ? "; \(missing) without a result after \(DurationText.format(options.resultsTimeout))" : ""))
        }
        await results?.stop()
        try? await channel.close()
    }

    /// Where an earlier run of this file stopped, when resuming; refuses a file that changed.
    private func resumePoint(progressPath: String?, contentHash: String, say: (String) -> Void) throws(OperatorError) -> PublishProgress? {
        guard let progressPath else {
            if options.resume { throw OperatorError(.usage, "--resume needs --progress PATH when the commands come from standard input") }
            return nil
        }
        guard let earlier = try PublishProgress.load(progressPath) else {
            if options.resume { say("no progress recorded at \(progressPath): publishing from the first line") }
            return nil
        }
        guard earlier.contentHash == contentHash else {
            if options.resume {
                throw OperatorError(
                    .invalidInput,
                    "\(progressPath) records another version of this file (it changed since line \(earlier.confirmedThroughLine) was confirmed): cannot resume; remove the progress file to publish the whole file"
                )
            }
            return nil
        }
        guard options.resume else {
            if !earlier.complete {
                say(
                    "note: an earlier run stopped after line \(earlier.confirmedThroughLine) (\(progressPath)); --resume continues from there. Publishing every line: the IDs are the same as then, so the gateway answers repeats from its journal within dedupe.ttl"
                )
            }
            return nil
        }
        if !earlier.complete { say("resuming after line \(earlier.confirmedThroughLine) (\(progressPath))") }
        return earlier
    }

    private func saveProgress(_ summary: Summary, contentHash: String, file: CommandFile, say: (String) -> Void) {
        guard let path = summary.progressPath else { return }
        let record = PublishProgress(
            file: file.isStandardInput ? "-" : file.path, contentHash: contentHash, confirmedThroughLine: summary.confirmedThroughLine,
            published: summary.published, complete: summary.complete, updatedAt: RFC3339.format(Date())
        )
        do { try record.save(path) } catch { say("warning: \(error)") }
    }

    /// How far it got, for a batch job's log.
    static func report(_ summary: Summary) -> String {
        if summary.complete { return "complete: every line through \(summary.lastLine) is on the queue" }
        var line = "confirmed through line \(summary.confirmedThroughLine) of \(summary.lastLine)"
        if let signal = summary.interruptedBy { line = "stopped by signal \(signal): " + line }
        if let path = summary.progressPath { line += "; `--resume` continues after it (progress in \(path))" }
        return line
    }

    static func deadline(_ text: String, now: Date = Date()) throws(OperatorError) -> String {
        if let duration = DurationText.parse(text) {
            guard duration > .zero else { throw OperatorError(.usage, "--deadline \(text): must be a time in the future") }
            return RFC3339.format(now.addingTimeInterval(duration.timeInterval))
        }
        if let date = RFC3339.parse(text) {
            guard date > now else { throw OperatorError(.usage, "--deadline \(text) has passed: every command would expire") }
            return text
        }
        throw OperatorError(.usage, "--deadline \(text): not a duration (10m, 90s) nor an RFC 3339 time")
    }
}

/// Collects the result events of the commands a publish sent, by command ID. Results may arrive
/// before their ID is noted as expected (the gateway can be faster than the bookkeeping).
final class ResultWatcher: Sendable {
    private struct Seen {
        var expected = Set<String>()
        var statuses: [String: String] = [:]
        /// Expected IDs without a result yet.
        var remaining = 0

        /// Statuses counted over the expected IDs, and how many have no result yet.
        var tally: ([String: Int], missing: Int) {
            var counts: [String: Int] = [:]
            var missing = 0
            for id in expected {
                if let status = statuses[id] { counts[status, default: 0] += 1 } else { missing += 1 }
            }
            return (counts, missing)
        }
    }

    private let seen = Mutex(Seen())
    private let channel: AMQPChannel
    private let consumer: AMQPConsumer

    private init(channel: AMQPChannel, consumer: AMQPConsumer) {
        self.channel = channel
        self.consumer = consumer
    }

    /// Binds an exclusive queue to the results exchange before anything is published, so no result
    /// is missed; the events wait there (a thousand at most on their way to this process) until
    /// `wait` reads them.
    static func start(connection: AMQPConnection, exchange: String) async throws -> ResultWatcher {
        let channel = try await connection.openChannel()
        try await channel.qos(prefetchCount: 1000)
        let queue = "workmode-gateway.publish-results-" + UUID().uuidString.lowercased()
        try await channel.declareQueue(queue, durable: false, exclusive: true, autoDelete: true)
        try await channel.bindQueue(queue, exchange: exchange, routingKey: "#")
        return ResultWatcher(channel: channel, consumer: try await channel.consume(queue: queue))
    }

    func expect(_ id: String) { seen.withLock { if $0.expected.insert(id).inserted { $0.remaining += 1 } } }

    /// Reads result events until every expected ID has one or `timeout` passes; returns the
    /// statuses counted over the expected IDs and how many had none. Structured: the reading stops
    /// with this call.
    func wait(timeout: Duration) async -> ([String: Int], Int) {
        if seen.withLock({ $0.remaining }) > 0 {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.readUntilComplete() }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        }
        return seen.withLock { $0.tally }
    }

    private func readUntilComplete() async {
        do {
            for try await delivery in consumer {
                try? channel.ack(delivery)
                guard let (id, status) = Self.commandAndStatus(delivery.body) else { continue }
                let complete = seen.withLock { seen -> Bool in
                    // The first result counts; a re-published copy says the same.
                    if seen.statuses[id] == nil, seen.expected.contains(id) {
                        seen.statuses[id] = status
                        seen.remaining -= 1
                    }
                    return seen.remaining == 0
                }
                if complete { return }
            }
        } catch {}
    }

    func stop() async {
        try? await channel.close()
    }

    /// The command ID and status of a result event, native or CloudEvents (where the native event
    /// is the `data` member).
    static func commandAndStatus(_ body: [UInt8]) -> (String, String)? {
        if let event = FlatJSONObject(parsing: body), let id = event.string("commandId"), let status = event.string("status") {
            return (id, status)
        }
        guard case .success(.object(let members)) = JSONParser.parse(body, maxDepth: 8),
            case .object(let data)? = members.first(where: { $0.key == "data" })?.value
        else { return nil }
        var id: String?
        var status: String?
        for member in data {
            if member.key == "commandId", case .string(let text) = member.value { id = text }
            if member.key == "status", case .string(let text) = member.value { status = text }
        }
        guard let id, let status else { return nil }
        return (id, status)
    }
}
