import AMQP
import CoreMetrics
import Foundation
import GatewayConfig
import Logging
import OIFDEClient
import PipelineCore
import Synchronization
import Tracing
import WorkModeDomain

/// Takes one delivered command to its end: validate, deduplicate, forward with retries, record,
/// publish the result (and dead letter), then acknowledge. Pure pipeline logic; the broker and
/// OIFDE are reached through the session and the client.
final class CommandProcessor: Sendable {
    /// Set by a drain on single-active-consumer queues: a command that goes back is left
    /// unacknowledged instead of nacked, and the connection's close returns it with the ones held
    /// after it, in order. A nack would put it at the head of the queue now, ahead of earlier
    /// commands of its call this replica still holds, for the next consumer to apply first.
    let holdsReturns = Atomic<Bool>(false)

    let configuration: GatewayConfiguration
    let client: OIFDEClient
    let journal: CompletionJournal
    let admission: AdmissionDriver
    let logger: Logger
    let backoff: Backoff
    let metrics: GatewayMetrics
    let pauses: PauseDriver
    /// Spans for each command (`tracing.otlp.endpoint` is set).
    let tracing: Bool

    init(
        configuration: GatewayConfiguration, client: OIFDEClient, journal: CompletionJournal, admission: AdmissionDriver, logger: Logger,
        metrics: GatewayMetrics = GatewayMetrics(), pauses: PauseDriver
    ) {
        self.pauses = pauses
        self.tracing = configuration.tracing.otlpEndpoint != nil
        self.configuration = configuration
        self.client = client
        self.journal = journal
        self.admission = admission
        self.logger = logger
        self.backoff = Backoff(initial: configuration.retry.initialBackoff, maximum: configuration.retry.maxBackoff)
        self.metrics = metrics
    }

    /// What happened to a command, for the result event and the dead letter.
    struct Outcome {
        var status: CommandStatus
        var attempts = 0
        var httpStatus: Int?
        var errorCode: String?
        var errorMsg: String?
        var errors: [ValidationError] = []
        var reason: String
        var inDoubt = false
        /// Why it is in doubt: the attempt whose outcome was unknown, or the redelivery the journal
        /// could not vouch for.
        var inDoubtReason: String?
    }

    /// A command decoded at delivery time, so the consumer can put it in its lane at once.
    struct Received: Sendable {
        let delivery: Delivery
        /// The channel it came on, which acknowledges it.
        let channel: AMQPChannel
        let decoded: Result<WorkModeCommand, ValidationFailure>
        let commandId: String
        let hasMessageId: Bool
        let receivedAt: Date
        /// When decoding and validation started and ended, for the trace's validation span.
        let decodeStarted: DefaultTracerClock.Instant
        let decodeEnded: DefaultTracerClock.Instant

        /// The completion journal's key. A dead letter replayed by an operator (`x-redrive-count`
        /// N) is a new life of the command: keyed apart from its earlier lives, or the journal
        /// would answer with the stored failure instead of trying again. Redeliveries of the same
        /// life still share a key, so a replayed command is still never applied twice.
        var journalKey: String {
            redrives > 0 ? commandId + "#redrive-" + String(redrives) : commandId
        }

        /// How many times an operator replayed this command (`x-redrive-count`).
        var redrives: Int { Int(delivery.properties.headers?["x-redrive-count"]?.intValue ?? 0) }
    }

    func receive(_ delivery: Delivery, on channel: AMQPChannel, decoder: CommandDecoder) -> Received {
        let messageId = delivery.properties.messageId.flatMap { $0.isEmpty ? nil : $0 }
        metrics.received.increment()
        let receivedAt = Date()
        let decodeStarted = DefaultTracerClock.now
        let decoded = decoder.decode(delivery.body)
        return Received(
            delivery: delivery, channel: channel, decoded: decoded, commandId: messageId ?? UUID().uuidString.lowercased(),
            hasMessageId: messageId != nil, receivedAt: receivedAt, decodeStarted: decodeStarted, decodeEnded: DefaultTracerClock.now
        )
    }

    enum Disposition {
        case acked, requeued
    }

    /// Processes one command and settles its delivery; `whenSettled` runs once, after the ack or
    /// requeue, possibly after this returns (on the thread of the broker's last confirm).
    /// Cancellation (a drain that ran out of time) requeues it without a result or dead letter.
    /// With tracing on, the command is one span (receipt to settlement) whose parent is the
    /// command's own `traceparent`.
    func process(_ received: Received, session: BrokerSession, whenSettled: @escaping @Sendable () -> Void) async {
        guard tracing else { return await run(received, session: session, span: nil, whenSettled: whenSettled) }
        var parent = InstrumentationContext.topLevel
        if let headers = received.delivery.properties.headers {
            InstrumentationSystem.instrument.extract(headers, into: &parent, using: FieldTableExtractor())
        }
        await withSpan("workmode.command", context: parent, ofKind: .consumer, at: received.decodeStarted) { span in
            span.attributes["messaging.message.id"] = received.commandId
            if case .success(let command) = received.decoded {
                span.attributes["workmode.tenant"] = command.tenantId
                span.attributes["workmode.call"] = command.callId
                span.attributes["workmode.work_mode"] = command.workMode.wireValue
            }
            let validation = startSpan("workmode.validate", at: received.decodeStarted)
            if case .failure(let failure) = received.decoded { validation.attributes["workmode.validation.errors"] = failure.errors.count }
            validation.end(at: received.decodeEnded)
            await run(received, session: session, span: span, whenSettled: whenSettled)
        }
    }

    /// Runs `operation` in a child span when tracing is on.
    func traced<T>(_ name: String, kind: SpanKind = .internal, _ operation: ((any Span)?) async -> T) async -> T {
        guard tracing else { return await operation(nil) }
        return await withSpan(name, ofKind: kind) { span in await operation(span) }
    }

    private func run(_ received: Received, session: BrokerSession, span: (any Span)?, whenSettled: @escaping @Sendable () -> Void) async {
        let id = received.commandId
        var metadata: Logger.Metadata = ["commandId": "\(id)"]
        if case .success(let command) = received.decoded {
            metadata["tenant"] = "\(command.tenantId)"
            metadata["call"] = "\(command.callId)"
        }
        let requeue = {
            _ = self.settle(received, session: session, published: false)
            whenSettled()
        }
        // A command already completed within dedupe.ttl is never sent again: its result is re-published.
        // Read once: the answer also says whether a forward is in doubt.
        let known: CompletionJournal.Lookup = received.hasMessageId ? journal.lookup(received.journalKey) : .unknown
        let inDoubt: Bool
        switch JournalDecision.decide(known.entry, redelivered: received.delivery.redelivered) {
        case .republishStored(let stored):
            span?.attributes["workmode.status"] = stored.status
            span?.attributes["workmode.republished"] = true
            let owed = owedMessages(
                event: stored.event, status: CommandStatus(rawValue: stored.status) ?? .failed, deadLetter: stored.deadLetter, received: received)
            await publishAndSettle(
                owed, received: received, session: session,
                tail: { [logger, metrics, metadata] published in
                    guard published else { return }
                    metrics.republished.increment()
                    logger.info("command already completed; result re-published", metadata: Self.adding(metadata, ["status": "\(stored.status)"]))
                }, whenSettled: whenSettled)
            return
        case .forward(let doubt):
            inDoubt = doubt
        }
        guard let outcome = await decide(received, inDoubt: inDoubt, session: session, metadata: metadata) else { return requeue() }
        let completedAt = Date()
        let event = resultEvent(received, outcome: outcome, completedAt: completedAt)
        let deadLetter = outcome.status.deadLetterClass.map { failureClass in
            DeadLetterAnnotation(
                failureClass: failureClass, reason: outcome.reason, errorCode: outcome.errorCode, httpStatus: outcome.httpStatus,
                validationErrors: outcome.errors, attempts: outcome.attempts, deadLetteredAt: completedAt,
                originalExchange: received.delivery.exchange, originalRoutingKey: received.delivery.routingKey,
                inDoubt: outcome.inDoubt ? (outcome.inDoubtReason ?? "in doubt") : nil
            )
        }
        let eventBytes =
            configuration.results.format == "cloudevents"
            ? CloudEventEnvelope(event: event, source: configuration.results.source, redrives: received.redrives).body(data: event.jsonBytes())
            : event.jsonBytes()
        let headers = deadLetter.map { $0.headers().map(Self.journalHeader) }
        if received.hasMessageId {
            let completion = JournalCompletion(status: outcome.status.rawValue, event: eventBytes, deadLetter: headers)
            let written = await writeJournal(session: session, metadata: metadata) {
                try journal.recordCompletion(received.journalKey, completion)
            }
            // Only when the session ended (or a drain ran out of time) while the journal could not
            // be written: the start record makes the redelivery an in-doubt forward.
            guard written else { return requeue() }
        }
        span?.attributes["workmode.status"] = outcome.status.rawValue
        span?.attributes["workmode.attempts"] = outcome.attempts
        span?.attributes["workmode.in_doubt"] = outcome.inDoubt
        var fields = [
            "status": "\(outcome.status.rawValue)", "attempts": "\(outcome.attempts)",
            "durationMs": "\(Int(event.durationMs))", "inDoubt": "\(outcome.inDoubt)",
        ]
        if outcome.status != .succeeded { fields["reason"] = outcome.reason }
        let status = outcome.status
        let receivedAt = received.receivedAt
        await publishAndSettle(
            owedMessages(event: eventBytes, status: status, deadLetter: headers, received: received), received: received, session: session,
            tail: { [logger, metrics, metadata, fields] published in
                if published {
                    metrics.outcome(status)
                    if let failureClass = status.deadLetterClass { metrics.deadLettered(failureClass.rawValue) }
                    metrics.commandDuration.recordInterval(since: receivedAt)
                }
                logger.info("command \(status.rawValue)", metadata: Self.adding(metadata, fields))
            }, whenSettled: whenSettled)
    }

    // MARK: - deciding

    /// Returns nil when the command must go back to the queue (cancelled while draining).
    private func decide(
        _ received: Received, inDoubt: Bool, session: BrokerSession, metadata: Logger.Metadata
    ) async -> Outcome? {
        let command: WorkModeCommand
        switch received.decoded {
        case .failure(let failure):
            return Outcome(status: .invalid, errors: failure.errors, reason: Self.reason(for: failure.errors))
        case .success(let valid):
            command = valid
        }
        let headers = received.delivery.properties.headers
        let deadlineHeader = headers?["x-deadline"].map(Self.deadlineHeader)
        let deadline: CommandDeadline
        switch CommandDeadline.resolve(
            xDeadline: deadlineHeader, timestampSeconds: received.delivery.properties.timestamp, firstReceipt: received.receivedAt,
            retryDeadline: configuration.retry.deadline
        ) {
        case .failure(let error): return Outcome(status: .invalid, errors: [error], reason: error.message)
        case .success(let value): deadline = value
        }

        let traceparent = headers?["traceparent"]?.stringValue
        var random = SystemRandomNumberGenerator()
        // The rules live in the pure state machine; this loop only does what it answers.
        // The deadline on the monotonic clock, once: a step of the wall clock from here on moves it
        // no more than it moves the core's other times.
        let expiresAt = Moment.now.adding(deadline.remaining(at: Date()))
        var attempts = CommandAttempts(
            deadline: deadline, expiresAt: expiresAt, maxAttempts: configuration.retry.maxAttempts, backoff: backoff,
            journaled: received.hasMessageId)

        // A batch job's command (the `.batch` queue, or replayed to it) runs in what live ones leave.
        let isBatch = received.delivery.routingKey == Topology.batchRoutingKey
        var grant: Admission<UInt64>.Grant?
        let commandNumber = admission.commandNumber()
        let firstAsked = Moment.now
        // When to give a grant back unused is the core's `.releaseGrant`; this returns one only
        // when the command is abandoned (cancelled, or the session closed during a journal write).
        defer { if let grant { admission.finished(grant, attempt: nil) } }
        var action = attempts.start(at: .now)
        while true {
            if Task.isCancelled { return nil }
            switch action {
            case .finish(let ending):
                let redelivery = inDoubt ? "redelivered, and the journal cannot tell whether an earlier delivery was forwarded" : nil
                return Outcome(
                    status: ending.status, attempts: ending.attempts, httpStatus: ending.httpStatus, errorCode: ending.errorCode,
                    errorMsg: ending.errorMsg, reason: ending.reason, inDoubt: inDoubt || ending.inDoubt != nil,
                    inDoubtReason: ending.inDoubt ?? redelivery)
            case .acquire:
                // Cancelled while waiting (a drain out of time): back to the queue, untouched.
                switch await admission.acquire(
                    command: commandNumber, since: firstAsked, tenant: command.tenantId, batch: isBatch, deadline: expiresAt)
                {
                case .cancelled: return nil
                case .granted(let granted):
                    grant = granted
                    action = attempts.admitted(probe: granted.probe, at: .now)
                case .deadlinePassed(let circuitOpen):
                    action = attempts.notAdmitted(circuitOpen: circuitOpen, at: .now)
                }
            case .recordStart:
                let written = await writeJournal(session: session, metadata: metadata) { try journal.recordStart(received.journalKey) }
                guard written else { return nil }
                action = attempts.startRecorded(at: .now)
            case .attempt(let number):
                if number > 1 { metrics.retries.increment() }
                let attempt = await traced("workmode.oifde.attempt", kind: .client) { attemptSpan in
                    attemptSpan?.attributes["workmode.attempt"] = number
                    let attempt = await client.changeWorkMode(
                        command, commandId: received.commandId, traceparent: traceparent,
                        deadline: expiresAt.instant
                    )
                    attemptSpan?.attributes["workmode.attempt.result"] = attempt.summary
                    if attempt.verdict != .succeeded { attemptSpan?.setStatus(SpanStatus(code: .error, message: attempt.summary)) }
                    return attempt
                }
                let probe = grant?.probe ?? false
                var duringOutage = false
                if let used = grant {
                    duringOutage = admission.finished(used, attempt: attempt)
                    grant = nil
                }
                var report = CommandAttempts.Report(
                    verdict: attempt.verdict, sentRequest: attempt.sentRequest, summary: attempt.summary, probe: probe,
                    unknownOutcome: attempt.unknownOutcome, neverSent: attempt.transportNeverSent, duringOutage: duringOutage)
                switch attempt.exchange {
                case .answered(let result), .answeredButRefused(let result, _):
                    metrics.attempts.increment()
                    metrics.request(attempt.verdict, duration: attempt.duration)
                    report.httpStatus = result.httpStatus
                    report.errorCode = result.errorCode
                    report.errorMsg = result.errorMsg
                case .tokenFailed(let failure):
                    // gettoken's own code only when it says something ("0" would read as a success).
                    report.errorCode = failure.errorCode
                case .notSent:
                    break
                }
                if case .retry = attempt.verdict, Task.isCancelled { return nil }
                let countedBefore = attempts.countedAttempts
                action = attempts.attemptFinished(report, at: .now, random: &random)
                if case .retry = attempt.verdict {
                    // Whether it used up an attempt is the core's call (`CommandAttempts`): the
                    // count includes an attempt from its start, and one found not to count leaves it.
                    let counted = attempts.countedAttempts >= countedBefore
                    logger.debug(
                        "attempt failed; will retry",
                        metadata: Self.adding(
                            metadata, ["attempt": "\(number)", "why": "\(attempt.summary)", "probe": "\(probe)", "counted": "\(counted)"]))
                }
            case .wait(let delay):
                // Waiting for a retry holds this command's lane only, not an in-flight slot.
                do { try await Task.sleep(for: delay) } catch { return nil }
                action = attempts.waited(at: .now)
            case .releaseGrant:
                if let unused = grant { admission.finished(unused, attempt: nil) }
                grant = nil
                action = attempts.grantReleased()
            }
        }
    }

    static func reason(for errors: [ValidationError]) -> String {
        guard let first = errors.first else { return "invalid" }
        var text = "invalid command: "
        if !first.pointer.isEmpty { text += first.pointer + ": " }
        text += first.message
        if errors.count > 1 { text += " (and \(errors.count - 1) more)" }
        return text
    }

    static func adding(_ base: Logger.Metadata, _ extra: [String: String]) -> Logger.Metadata {
        var merged = base
        for (key, value) in extra { merged[key] = .string(value) }
        return merged
    }

    /// Writes to the journal, and while that fails (a full disk, an I/O error) pauses new
    /// deliveries and tries again with backoff, holding this command: requeueing it would loop it
    /// to its delivery limit. False when the session ended or the task was cancelled first.
    func writeJournal(session: BrokerSession, metadata: Logger.Metadata, _ write: () throws -> Void) async -> Bool {
        var retry = FaultRetry(cause: .journal)
        var written = false
        defer { if let release = retry.ended(succeeded: written) { pauses.release(release) } }
        var random = SystemRandomNumberGenerator()
        while true {
            do {
                try write()
                written = true
                return true
            } catch {
                let wait = retry.failed(using: &random)
                if wait.holdsPause {
                    pauses.hold(.journal, detail: "\(error)")
                    logger.error(
                        "cannot write the completion journal; holding the command and trying again",
                        metadata: Self.adding(metadata, ["error": "\(error)"]))
                }
                do { try await Task.sleep(for: wait.delay) } catch { return false }
                guard session.isOpen else { return false }
            }
        }
    }

    private func resultEvent(_ received: Received, outcome: Outcome, completedAt: Date) -> ResultEvent {
        var event = ResultEvent(
            commandId: received.commandId, correlationId: received.delivery.properties.correlationId, status: outcome.status,
            errorCode: outcome.errorCode, errorMsg: outcome.errorMsg, httpStatus: outcome.httpStatus, attempts: outcome.attempts,
            errors: outcome.errors, receivedAt: received.receivedAt, completedAt: completedAt, inDoubt: outcome.inDoubt
        )
        event.reason = outcome.reason
        event.inDoubtReason = outcome.inDoubtReason
        switch received.decoded {
        case .success(let command):
            event.tenantId = command.tenantId
            event.callId = command.callId
            event.agentId = command.agentId
            event.workMode = command.workMode.wireValue
        case .failure(let failure):
            event.tenantId = failure.tenantId
            event.callId = failure.callId
            event.agentId = failure.agentId
            event.workMode = failure.workMode
        }
        return event
    }

    static func deadlineHeader(_ value: FieldValue) -> CommandDeadline.Header {
        switch value {
        case .string(let text): return .text(text)
        case .bytes(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else { return .unsupported(type: "byte array that is not UTF-8") }
            return .text(text)
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64:
            return value.intValue.map(CommandDeadline.Header.milliseconds) ?? .unsupported(type: "integer")
        case .uint64(let number):
            return Int64(exactly: number).map(CommandDeadline.Header.milliseconds) ?? .unsupported(type: "integer too large")
        case .timestamp: return .unsupported(type: "timestamp (seconds: send RFC 3339 text or epoch milliseconds)")
        case .float, .double: return .unsupported(type: "floating-point number")
        case .decimal: return .unsupported(type: "decimal")
        case .bool: return .unsupported(type: "boolean")
        case .array: return .unsupported(type: "array")
        case .table: return .unsupported(type: "table")
        case .void: return .unsupported(type: "void")
        }
    }

    static func journalHeader(_ header: (key: String, value: HeaderValue)) -> JournalCompletion.DeadLetterHeader {
        switch header.value {
        case .string(let text): return .init(key: header.key, string: text, int: nil)
        case .int(let number): return .init(key: header.key, string: nil, int: number)
        case .bool(let flag): return .init(key: header.key, string: nil, int: nil, bool: flag)
        }
    }
}

/// Reads a command's trace context (`traceparent`, `tracestate`) from its AMQP headers.
struct FieldTableExtractor: Extractor {
    func extract(key: String, from carrier: FieldTable) -> String? { carrier[key]?.stringValue }
}
