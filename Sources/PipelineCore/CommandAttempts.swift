import Foundation
import WorkModeDomain

/// The rules that take one valid command from its first attempt to its outcome (docs/contract.md
/// section 4), as a value-type state machine: the shell tells it what happened, with the time it
/// happened, and does what it answers. It reads no clock, sleeps never, and draws jitter only from
/// the generator it is handed, so every rule is testable in virtual time.
///
/// The shell's loop: `start(at:)`, then per action: `.acquire` → ask ``Admission`` for a request
/// slot, then `admitted(probe:at:)` (or `notAdmitted(circuitOpen:at:)` when the deadline passed
/// while waiting); `.recordStart` → journal the start, then `startRecorded(at:)`; `.attempt` →
/// call OIFDE, then `attemptFinished(_:at:random:)`; `.wait(for:)` → sleep, then `waited(at:)`;
/// `.releaseGrant` → give the slot back to ``Admission`` unused, then `grantReleased()`;
/// `.finish` → the outcome, exactly once. A slot is held from `admitted` until the attempt it
/// allowed ends (the shell reports the attempt to ``Admission`` with it) or until this machine
/// says `.releaseGrant` (the deadline passed before the request could go). Only a command the shell
/// abandons (cancelled by a drain out of time) gives a slot back without being told.
public struct CommandAttempts: Sendable {
    /// What the shell does next.
    public enum Action: Sendable, Hashable {
        /// Ask for permission to send a request (an in-flight slot, the breaker, the tenant's rate).
        case acquire
        /// Journal that a forward is starting (the command has a message ID), then `startRecorded`.
        case recordStart
        /// Send attempt `number` (1-based) to OIFDE, within the deadline.
        case attempt(number: Int)
        /// Wait this long before asking again, holding the call's lane but no in-flight slot.
        case wait(for: Duration)
        /// Give the slot `admitted` granted back to ``Admission`` unused (nothing was sent), then
        /// `grantReleased()`.
        case releaseGrant
        /// The command's outcome; nothing more happens.
        case finish(Ending)
    }

    /// How a command ended, with what the last answer said.
    public struct Ending: Sendable, Hashable {
        /// succeeded, rejected, failed or expired.
        public var status: CommandStatus
        /// One line saying why.
        public var reason: String
        /// Attempts that reached OIFDE (a refusal before sending does not count).
        public var attempts: Int
        /// The last HTTP status any attempt saw.
        public var httpStatus: Int?
        /// The last errorCode any attempt saw.
        public var errorCode: String?
        /// The last errorMsg any attempt saw.
        public var errorMsg: String?
        /// Which attempt's outcome was unknown and why (it may have been applied), the first one;
        /// nil when every attempt's outcome was known. Whatever the status, the command is in doubt.
        public var inDoubt: String?
    }

    /// What one attempt came to, as the OIFDE client classified it.
    public struct Report: Sendable, Hashable {
        /// The classifier's decision.
        public var verdict: AttemptVerdict
        /// False when nothing reached OIFDE's changeWorkMode (no secret, no token).
        public var sentRequest: Bool
        /// The changeWorkMode request provably never left for a transport reason (no connection, a
        /// failed handshake, none free in time, closed before writing): not an attempt at all
        /// (docs/contract.md section 14). A token failure is an attempt (section 4).
        public var neverSent: Bool
        /// The request was sent and its outcome is unknown (no complete answer in time, the
        /// connection lost after writing): what happened, for the result's `inDoubtReason`.
        public var unknownOutcome: String?
        /// One line for reasons: "HTTP 503, errorCode 10000001".
        public var summary: String
        /// The answer's HTTP status, when changeWorkMode answered; nil leaves the last one.
        public var httpStatus: Int?
        /// The answer's errorCode (or gettoken's, when it says something); nil leaves the last one.
        public var errorCode: String?
        /// The answer's errorMsg.
        public var errorMsg: String?
        /// The attempt was the half-open breaker's probe: a failure does not count against
        /// `retry.maxAttempts`, so no command spends its attempts on probes alone.
        public var probe: Bool
        /// The attempt failed while the breaker knew OIFDE was failing
        /// (``Admission/Changes/failedDuringOutage``): when its outcome is known (nothing was
        /// applied), it does not count against `retry.maxAttempts` either, so an OIFDE that flaps
        /// faster than the backoff cannot use up a command's attempts while its deadline has time.
        /// An attempt of unknown outcome always counts: each may have applied the change.
        public var duringOutage: Bool

        /// A report of one attempt.
        public init(
            verdict: AttemptVerdict, sentRequest: Bool, summary: String, httpStatus: Int? = nil, errorCode: String? = nil, errorMsg: String? = nil,
            probe: Bool = false, unknownOutcome: String? = nil, neverSent: Bool = false, duringOutage: Bool = false
        ) {
            self.duringOutage = duringOutage
            self.neverSent = neverSent
            self.probe = probe
            self.unknownOutcome = unknownOutcome
            self.verdict = verdict
            self.sentRequest = sentRequest
            self.summary = summary
            self.httpStatus = httpStatus
            self.errorCode = errorCode
            self.errorMsg = errorMsg
        }
    }

    private enum State: Sendable, Hashable {
        case idle
        case acquiring
        case admitted
        case recordingStart
        case attempting
        case waiting
        case releasingGrant
        case finished
    }

    let deadline: CommandDeadline
    /// The deadline on the monotonic clock: when the command expires.
    public let expiresAt: Moment
    let maxAttempts: Int
    let backoff: Backoff
    let journaled: Bool
    private var state = State.idle
    private var ending: Ending
    private var startRecorded = false
    /// Between `admitted` and the end of the attempt it allowed, or `.releaseGrant`.
    private var holdsGrant = false
    /// Failed probes and known-outage failures: they reached OIFDE but do not use up the command's
    /// attempts.
    private var uncountedFailures = 0

    /// - Parameters:
    ///   - deadline: the command's deadline as resolved (wall-clock, for the texts that name it).
    ///   - expiresAt: the same deadline on the monotonic clock, taken once at receipt: the time it
    ///     had left then, from then (a later step of the wall clock moves neither).
    ///   - journaled: the command has a message ID, so its start is journaled before the first attempt.
    public init(deadline: CommandDeadline, expiresAt: Moment, maxAttempts: Int, backoff: Backoff, journaled: Bool) {
        self.deadline = deadline
        self.expiresAt = expiresAt
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.journaled = journaled
        self.ending = Ending(status: .expired, reason: "", attempts: 0)
    }

    /// Attempts counted so far.
    public var attempts: Int { ending.attempts }

    /// The command was taken up.
    public mutating func start(at now: Moment) -> Action {
        precondition(state == .idle, "start(at:) once, first")
        return acquire(at: now)
    }

    /// Admission granted a request (`probe`: the half-open breaker's). The wait for it may have
    /// been long: the deadline is checked again.
    public mutating func admitted(probe: Bool = false, at now: Moment) -> Action {
        precondition(state == .acquiring, "admitted answers .acquire")
        holdsGrant = true
        if let ending = expiredIfPassed(at: now) { return ending }
        if ending.attempts == 0, journaled, !startRecorded {
            state = .recordingStart
            return .recordStart
        }
        return attempt()
    }

    /// The deadline passed while waiting for admission; `circuitOpen` says the breaker was why.
    public mutating func notAdmitted(circuitOpen: Bool, at now: Moment) -> Action {
        precondition(state == .acquiring, "notAdmitted answers .acquire")
        let waitingFor = circuitOpen ? "while the circuit to OIFDE was open" : "while waiting for an in-flight slot"
        let done = ending.attempts == 0 ? "before the command could be forwarded" : "after \(ending.attempts) attempts\(lastError)"
        return finish(.expired, "the deadline (\(RFC3339.format(deadline.date))) passed \(waitingFor), \(done)")
    }

    /// The journal holds the start record. The write may have waited (a full disk): the deadline
    /// is checked again.
    public mutating func startRecorded(at now: Moment) -> Action {
        precondition(state == .recordingStart, "startRecorded(at:) answers .recordStart")
        startRecorded = true
        if let ending = expiredIfPassed(at: now) { return ending }
        return attempt()
    }

    /// The wait before a retry is over.
    public mutating func waited(at now: Moment) -> Action {
        precondition(state == .waiting, "waited(at:) answers .wait")
        return acquire(at: now)
    }

    /// The slot is back with ``Admission``.
    public mutating func grantReleased() -> Action {
        precondition(state == .releasingGrant, "grantReleased() answers .releaseGrant")
        state = .finished
        return .finish(ending)
    }

    /// An attempt ended (the shell has reported it to ``Admission`` with its slot); `random`
    /// jitters the backoff.
    public mutating func attemptFinished(_ report: Report, at now: Moment, random: inout some RandomNumberGenerator) -> Action {
        precondition(state == .attempting, "attemptFinished answers .attempt")
        holdsGrant = false
        ending.httpStatus = report.httpStatus ?? ending.httpStatus
        ending.errorCode = report.errorCode ?? ending.errorCode
        ending.errorMsg = report.errorMsg ?? ending.errorMsg
        if let unknown = report.unknownOutcome, ending.inDoubt == nil {
            ending.inDoubt = "attempt \(ending.attempts): \(unknown)"
        }
        switch report.verdict {
        case .succeeded:
            return finish(.succeeded, "applied")
        case .rejected(let reason):
            // No secret or no token: nothing reached OIFDE, so it does not count as an attempt.
            if !report.sentRequest { ending.attempts -= 1 }
            return finish(.rejected, reason)
        case .retry(let retryAfter):
            if report.neverSent {
                // Not an attempt (docs/contract.md section 14): nothing reached OIFDE, so the next
                // request takes its number. It waits like one, so a refused connection is not
                // hammered; only the deadline ends it, never in doubt.
                ending.attempts -= 1
                return waitToRetry(afterAttempt: max(1, countedAttempts), retryAfter, report, at: now, random: &random)
            }
            if report.probe {
                // The breaker is open again and holds the next request back; only the deadline ends it.
                uncountedFailures += 1
                return acquire(at: now)
            }
            if report.duringOutage, report.unknownOutcome == nil {
                // Not counted, but waited for like a counted one: the breaker may still be closed.
                uncountedFailures += 1
                return waitToRetry(afterAttempt: max(1, countedAttempts), retryAfter, report, at: now, random: &random)
            }
            guard countedAttempts < maxAttempts else {
                return finish(.failed, "still failing after \(ending.attempts) attempts; last: \(report.summary)")
            }
            return waitToRetry(afterAttempt: countedAttempts, retryAfter, report, at: now, random: &random)
        case .refreshTokenAndRetry:
            // The client already renewed the token once in this attempt; it counts as a failure.
            guard countedAttempts < maxAttempts else {
                return finish(.failed, "OIFDE kept refusing fresh tokens (errorCode \(report.errorCode ?? ""))")
            }
            return acquire(at: now)
        }
    }

    /// Attempts that used up `retry.maxAttempts`: not a probe's, not one an outage explains, not
    /// one that sent nothing.
    public var countedAttempts: Int { ending.attempts - uncountedFailures }

    /// The backoff before the next request, or `expired` when the deadline leaves no time for it.
    private mutating func waitToRetry(
        afterAttempt attempt: Int, _ retryAfter: Duration?, _ report: Report, at now: Moment, random: inout some RandomNumberGenerator
    ) -> Action {
        guard let delay = backoff.delay(afterAttempt: attempt, retryAfter: retryAfter, timeLeft: expiresAt.duration(since: now), using: &random)
        else {
            let after = ending.attempts == 0 ? "" : " after \(ending.attempts)"
            return finish(.expired, "the deadline leaves no time for another attempt\(after); last: \(report.summary)")
        }
        state = .waiting
        return .wait(for: delay)
    }

    private mutating func acquire(at now: Moment) -> Action {
        if let ending = expiredIfPassed(at: now) { return ending }
        state = .acquiring
        return .acquire
    }

    private mutating func attempt() -> Action {
        ending.attempts += 1
        state = .attempting
        return .attempt(number: ending.attempts)
    }

    private mutating func expiredIfPassed(at now: Moment) -> Action? {
        guard now >= expiresAt else { return nil }
        if ending.attempts == 0 {
            return finish(
                .expired,
                "the deadline (\(RFC3339.format(deadline.date)), from \(deadline.source.rawValue)) passed before the command could be forwarded")
        }
        return finish(.expired, "the deadline passed after \(ending.attempts) attempts\(lastError)")
    }

    private var lastError: String {
        if let code = ending.errorCode { return "; last errorCode \(code)" }
        if let status = ending.httpStatus { return "; last HTTP \(status)" }
        return ""
    }

    private mutating func finish(_ status: CommandStatus, _ reason: String) -> Action {
        state = holdsGrant ? .releasingGrant : .finished
        // `expired` promises the change was certainly not applied: a command with an attempt of
        // unknown outcome ends `failed` instead, in doubt (docs/contract.md sections 4 and 14).
        if status == .expired, let doubt = ending.inDoubt {
            ending.status = .failed
            ending.reason = reason + "; in doubt: \(doubt), so the change may have been applied"
        } else {
            ending.status = status
            ending.reason = reason
        }
        guard holdsGrant else { return .finish(ending) }
        // The ending waits until the slot is back, so no outcome is published while it is counted.
        holdsGrant = false
        return .releaseGrant
    }
}
