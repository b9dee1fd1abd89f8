import CoreMetrics
import Foundation
import Logging
import OIFDEClient
import PipelineCore
import Synchronization
import WorkModeDomain

/// Parks and wakes the commands that ask ``Admission`` (PipelineCore) for a request to OIFDE:
/// the rules (limit, breaker, rates, fairness, live before batch, each wait's deadline) are all
/// there; this class only holds the parked tasks, sleeps until the core's next wake-up (an open
/// breaker's end, a rate token, a deadline), and logs what changed.
final class AdmissionDriver: Sendable {
    /// How a request for permission ended.
    enum Answer: Sendable {
        case granted(Admission<UInt64>.Grant)
        /// The command's deadline passed while it waited; `circuitOpen` says the breaker was why.
        case deadlinePassed(circuitOpen: Bool)
        /// The task was cancelled (a drain out of time) while it waited.
        case cancelled
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Answer, Never>
    }

    private struct Timer {
        var id: UInt64
        var task: Task<Void, Never>
        var at: Moment
    }

    private struct State {
        var admission: Admission<UInt64>
        var parked: [UInt64: Waiter] = [:]
        var nextId: UInt64 = 0
        /// Asked and not answered yet.
        var unanswered: Set<UInt64> = []
        /// Answered (granted, cancelled, out of time) before their continuation was stored.
        var answeredEarly: [UInt64: Answer] = [:]
        /// The one timer, armed for the core's next wake-up.
        var timer: Timer?
        var nextTimerId: UInt64 = 0
    }

    private let state: Mutex<State>
    private let commandNumbers = Atomic<UInt64>(0)
    private let logger: Logger
    private let metrics: GatewayMetrics

    init(settings: Admission<UInt64>.Settings, logger: Logger, metrics: GatewayMetrics) {
        self.state = Mutex(State(admission: Admission(settings: settings)))
        self.logger = logger
        self.metrics = metrics
        metrics.circuit(.closed)
        metrics.concurrencyLimit.record(settings.maxInFlight)
    }

    /// A number for a command's requests, unique in this process: the breaker tells a command's
    /// own failures from other commands' by it.
    func commandNumber() -> UInt64 { commandNumbers.add(1, ordering: .relaxed).newValue }

    /// Asks permission for one request of command `command` (from `commandNumber()`, first asking
    /// at `since`) of `tenant`, waiting at most until `deadline`. Granted at once (the steady state)
    /// without suspending the task.
    func acquire(command: UInt64, since: Moment, tenant: String, batch: Bool, deadline: Moment) async -> Answer {
        if Task.isCancelled { return .cancelled }
        let (id, immediate, changes) = state.withLock { state -> (UInt64, Admission<UInt64>.Grant?, Admission<UInt64>.Changes) in
            state.nextId += 1
            let id = state.nextId
            let changes = state.admission.request(id, for: command, since: since, tenant: tenant, batch: batch, deadline: deadline, at: .now)
            if let mine = changes.grants.first(where: { $0.ticket == id }) { return (id, mine, changes) }
            state.unanswered.insert(id)
            return (id, nil, changes)
        }
        apply(changes, answered: immediate?.ticket)
        if let immediate { return .granted(immediate) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Answer, Never>) in
                let answer = state.withLock { state -> Answer? in
                    if let early = state.answeredEarly.removeValue(forKey: id) {
                        state.unanswered.remove(id)
                        return early
                    }
                    state.parked[id] = Waiter(continuation: continuation)
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard state.unanswered.contains(id), state.admission.withdraw(id) else { return nil }
                guard let waiter = state.parked.removeValue(forKey: id) else {
                    // Not parked yet: the continuation's closure sees this answer.
                    state.answeredEarly[id] = .cancelled
                    return nil
                }
                state.unanswered.remove(id)
                return waiter
            }
            waiter?.continuation.resume(returning: .cancelled)
        }
    }

    /// The request `grant` allowed has ended with `attempt` (nil: it was not sent at all). True
    /// when it failed while the breaker knew OIFDE was failing (``CommandAttempts/Report/duringOutage``).
    @discardableResult
    func finished(_ grant: Admission<UInt64>.Grant, attempt: OIFDEAttempt?) -> Bool {
        let outcome = attempt.map(Self.outcome) ?? .notSent
        let changes = state.withLock { $0.admission.finished(grant, outcome, at: .now) }
        apply(changes)
        return changes.failedDuringOutage
    }

    /// What the breaker and the adaptive limit learn from one attempt: the rules are
    /// ``Admission``'s; this only takes the attempt apart.
    static func outcome(_ attempt: OIFDEAttempt) -> Admission<UInt64>.Outcome {
        let retryable: Bool
        if case .retry = attempt.verdict { retryable = true } else { retryable = false }
        switch attempt.exchange {
        case .notSent:
            return .notSent
        case .tokenFailed(let failure):
            let transport: AttemptResult.TransportError?
            if case .transport(let error) = failure.problem { transport = error } else { transport = nil }
            return Admission<UInt64>.learned(fromTokenFailure: transport, retryable: retryable, latency: attempt.duration)
        case .answered(let result), .answeredButRefused(let result, _):
            return Admission<UInt64>.learned(
                fromExchange: result.transportError, httpStatus: result.httpStatus, retryable: retryable, latency: attempt.duration)
        }
    }

    /// The in-flight limit now.
    var limit: Int { state.withLock { $0.admission.limit } }
    /// Requests out now.
    var inUse: Int { state.withLock { $0.admission.inUse } }
    /// Commands waiting for permission.
    var waitingCount: Int { state.withLock { $0.admission.waitingCount } }
    /// The breaker's state.
    var circuitState: CircuitBreaker.State { state.withLock { $0.admission.breakerState } }

    /// Logs and records what changed and wakes the granted (`answered`: granted to the caller
    /// directly, nobody to wake).
    private func apply(_ changes: Admission<UInt64>.Changes, answered: UInt64? = nil) {
        for transition in changes.transitions {
            metrics.circuit(transition.to)
            var metadata: Logger.Metadata = ["from": "\(transition.from.name)", "to": "\(transition.to.name)", "why": "\(transition.reason)"]
            if let until = transition.openUntil { metadata["until"] = "\(RFC3339.format(until.wallClock))" }
            switch transition.to {
            case .open: logger.warning("circuit to OIFDE opened: no requests until the probe", metadata: metadata)
            case .halfOpen: logger.info("circuit to OIFDE half-open: one probe, then more requests as they succeed", metadata: metadata)
            case .closed: logger.info("circuit to OIFDE closed: requests flow again", metadata: metadata)
            }
        }
        if let limit = changes.limit {
            metrics.concurrencyLimit.record(limit)
            logger.debug("in-flight limit changed", metadata: ["limit": "\(limit)"])
        }
        let answers =
            changes.grants.map { ($0.ticket, Answer.granted($0)) }
            + changes.expired.map { ($0.ticket, Answer.deadlinePassed(circuitOpen: $0.circuitNotClosed)) }
        guard !answers.isEmpty else { return armTimer() }
        let ready = state.withLock { state -> [(CheckedContinuation<Answer, Never>, Answer)] in
            answers.compactMap { ticket, answer in
                guard ticket != answered else { return nil }
                guard let waiter = state.parked.removeValue(forKey: ticket) else {
                    // Asked, not parked yet: its continuation's closure takes the answer.
                    state.answeredEarly[ticket] = answer
                    return nil
                }
                state.unanswered.remove(ticket)
                return (waiter.continuation, answer)
            }
        }
        for (continuation, answer) in ready { continuation.resume(returning: answer) }
        armTimer()
    }

    /// Arms the timer for the core's next wake-up when none is armed for it or earlier (a wait's
    /// deadline, an open breaker's end, a rate token); disarms it when nothing waits.
    private func armTimer() {
        state.withLock { state in
            guard let wake = state.admission.nextWakeup else {
                state.timer?.task.cancel()
                state.timer = nil
                return
            }
            if let armed = state.timer, armed.at <= wake { return }
            state.timer?.task.cancel()
            state.nextTimerId += 1
            let id = state.nextTimerId
            let task = Task { [self] in
                // At least a millisecond: a wake-up the tick leaves in the past (a stale deadline
                // entry is dropped by it) must not spin.
                do { try await Task.sleep(until: max(wake, Moment.now.addingTimeInterval(0.001)).instant, clock: .continuous) } catch { return }
                self.fire(timer: id)
            }
            state.timer = Timer(id: id, task: task, at: wake)
        }
    }

    /// The timer's time came: the core ends the waits out of time and grants what time allows.
    private func fire(timer id: UInt64) {
        let changes = state.withLock { state -> Admission<UInt64>.Changes in
            if state.timer?.id == id { state.timer = nil }
            return state.admission.tick(at: .now)
        }
        apply(changes)
    }
}
