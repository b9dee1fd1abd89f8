import Foundation
import PipelineCore
import Testing
import WorkModeDomain

/// A generator that repeats: jitter in tests is chosen, not drawn.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Virtual time counts seconds since 1970, so a command's wall-clock deadline is the moment of the
/// same number (the gateway maps it once, at receipt, from the time it had left).
extension CommandAttempts {
    init(deadline: CommandDeadline, maxAttempts: Int, backoff: Backoff, journaled: Bool) {
        self.init(
            deadline: deadline, expiresAt: Moment(seconds: deadline.date.timeIntervalSince1970), maxAttempts: maxAttempts, backoff: backoff,
            journaled: journaled)
    }
}

extension Moment {
    /// The wall-clock time of the same number, for what takes one (a command's first receipt).
    var date: Date { Date(timeIntervalSince1970: Double(nanoseconds) / 1e9) }
}

/// An idle admission: every `.acquire` is granted at once, and a slot given back is taken back.
extension CommandAttempts {
    mutating func admittingAtOnce(_ action: Action, at now: Moment) -> Action {
        guard action == .acquire else { return action }
        let answer = admitted(at: now)
        return answer == .releaseGrant ? grantReleased() : answer
    }

    mutating func startAdmitted(at now: Moment) -> Action { admittingAtOnce(start(at: now), at: now) }

    mutating func waitedAdmitted(at now: Moment) -> Action { admittingAtOnce(waited(at: now), at: now) }

    mutating func finishedAdmitted(_ report: Report, at now: Moment, random: inout some RandomNumberGenerator) -> Action {
        admittingAtOnce(attemptFinished(report, at: now, random: &random), at: now)
    }
}

/// docs/contract.md section 4's rules for one command, in virtual time: no sleeps, no broker, no HTTP.
@Suite(.timeLimit(.minutes(10))) struct CommandAttemptsTests {
    static let t0 = Moment(seconds: 1_764_064_800)
    static let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))

    static func machine(deadlineAfter seconds: Double = 120, maxAttempts: Int = 5, journaled: Bool = true) -> CommandAttempts {
        CommandAttempts(
            deadline: deadline(after: seconds), maxAttempts: maxAttempts,
            backoff: backoff, journaled: journaled)
    }

    /// `retry.deadline` from the first receipt at t0, as for a command without a timestamp.
    static func deadline(after seconds: Double) -> CommandDeadline {
        let window = Duration.milliseconds(Int64(seconds * 1000))
        guard
            case .success(let deadline) = CommandDeadline.resolve(xDeadline: nil, timestampSeconds: nil, firstReceipt: t0.date, retryDeadline: window)
        else { preconditionFailure("a window alone always resolves") }
        return deadline
    }

    static let unavailable = CommandAttempts.Report(
        verdict: .retry(retryAfter: nil), sentRequest: true, summary: "HTTP 503", httpStatus: 503, errorCode: nil)
    static let applied = CommandAttempts.Report(
        verdict: .succeeded, sentRequest: true, summary: "HTTP 200, errorCode 0", httpStatus: 200, errorCode: "0")

    @Test func aJournaledCommandRecordsItsStartThenSucceedsOnTheFirstAttempt() {
        var attempts = Self.machine()
        var random = SplitMix64(state: 1)
        #expect(attempts.startAdmitted(at: Self.t0) == .recordStart)
        #expect(attempts.startRecorded(at: Self.t0) == .attempt(number: 1))
        guard case .finish(let ending) = attempts.finishedAdmitted(Self.applied, at: Self.t0, random: &random) else {
            Issue.record("a success finishes")
            return
        }
        #expect(ending.status == .succeeded && ending.attempts == 1 && ending.reason == "applied" && ending.errorCode == "0")
    }

    @Test func withoutAMessageIdNothingIsJournaled() {
        var attempts = Self.machine(journaled: false)
        #expect(attempts.startAdmitted(at: Self.t0) == .attempt(number: 1))
    }

    @Test func aDeadlineThatPassedBeforeTheFirstAttemptExpiresWithoutSending() {
        var attempts = Self.machine(deadlineAfter: 1)
        guard case .finish(let ending) = attempts.startAdmitted(at: Self.t0.addingTimeInterval(2)) else {
            Issue.record("expired at once")
            return
        }
        #expect(ending.status == .expired && ending.attempts == 0)
        #expect(ending.reason.hasSuffix("passed before the command could be forwarded"), "\(ending.reason)")
        #expect(ending.reason.contains("from firstReceipt"))
    }

    @Test func aSlowJournalWriteCanUseUpTheDeadline() {
        var attempts = Self.machine(deadlineAfter: 1)
        #expect(attempts.startAdmitted(at: Self.t0) == .recordStart)
        #expect(attempts.startRecorded(at: Self.t0.addingTimeInterval(5)) == .releaseGrant, "the slot goes back unused")
        guard case .finish(let ending) = attempts.grantReleased() else {
            Issue.record("the deadline is checked again after the journal")
            return
        }
        #expect(ending.status == .expired && ending.attempts == 0)
    }

    @Test func aSlotGrantedAfterTheDeadlineGoesBackBeforeTheEnding() {
        var attempts = Self.machine(deadlineAfter: 5, journaled: false)
        #expect(attempts.start(at: Self.t0) == .acquire)
        // Admission answered late (a full limit): the deadline passed while the grant travelled.
        #expect(attempts.admitted(at: Self.t0.addingTimeInterval(6)) == .releaseGrant)
        guard case .finish(let ending) = attempts.grantReleased() else {
            Issue.record("expired once the slot is back")
            return
        }
        #expect(ending.status == .expired && ending.attempts == 0)
    }

    @Test func retriesBackOffWithinTheirCeilingsThenFailAtMaxAttempts() {
        var attempts = Self.machine(maxAttempts: 4, journaled: false)
        var random = SplitMix64(state: 7)
        var now = Self.t0
        var action = attempts.startAdmitted(at: now)
        var waits: [Duration] = []
        while true {
            switch action {
            case .attempt:
                action = attempts.finishedAdmitted(Self.unavailable, at: now, random: &random)
            case .wait(let delay):
                waits.append(delay)
                now = now.addingTimeInterval(delay.timeInterval)
                action = attempts.waitedAdmitted(at: now)
            case .finish(let ending):
                #expect(ending.status == .failed && ending.attempts == 4)
                #expect(ending.reason == "still failing after 4 attempts; last: HTTP 503")
                #expect(ending.httpStatus == 503)
                #expect(waits.count == 3)
                for (index, wait) in waits.enumerated() {
                    #expect(wait >= .zero && wait <= Self.backoff.ceiling(afterAttempt: index + 1), "wait \(index + 1): \(wait)")
                }
                return
            case .recordStart, .acquire, .releaseGrant:
                Issue.record("not journaled; admitted at once, within the deadline")
                return
            }
        }
    }

    @Test func aServersRetryAfterIsUsedAsItIs() {
        var attempts = Self.machine(journaled: false)
        var random = SplitMix64(state: 3)
        _ = attempts.startAdmitted(at: Self.t0)
        let busy = CommandAttempts.Report(verdict: .retry(retryAfter: .seconds(7)), sentRequest: true, summary: "HTTP 429", httpStatus: 429)
        #expect(attempts.finishedAdmitted(busy, at: Self.t0, random: &random) == .wait(for: .seconds(7)))
        #expect(attempts.waitedAdmitted(at: Self.t0.addingTimeInterval(7)) == .attempt(number: 2))
    }

    @Test func aWaitThatWouldEndPastTheDeadlineExpiresInstead() {
        var attempts = Self.machine(deadlineAfter: 5, journaled: false)
        var random = SplitMix64(state: 3)
        _ = attempts.startAdmitted(at: Self.t0)
        let busy = CommandAttempts.Report(verdict: .retry(retryAfter: .seconds(10)), sentRequest: true, summary: "HTTP 429", httpStatus: 429)
        guard case .finish(let ending) = attempts.finishedAdmitted(busy, at: Self.t0, random: &random) else {
            Issue.record("no wait past the deadline")
            return
        }
        #expect(ending.status == .expired && ending.reason == "the deadline leaves no time for another attempt after 1; last: HTTP 429")
    }

    @Test func aDeadlineThatPassesDuringAWaitNamesTheLastError() {
        var attempts = Self.machine(deadlineAfter: 5, journaled: false)
        var random = SplitMix64(state: 3)
        _ = attempts.startAdmitted(at: Self.t0)
        let refused = CommandAttempts.Report(
            verdict: .retry(retryAfter: .seconds(1)), sentRequest: true, summary: "HTTP 200, errorCode 10000001", httpStatus: 200,
            errorCode: "10000001")
        #expect(attempts.finishedAdmitted(refused, at: Self.t0, random: &random) == .wait(for: .seconds(1)))
        guard case .finish(let ending) = attempts.waitedAdmitted(at: Self.t0.addingTimeInterval(6)) else {
            Issue.record("expired after the wait")
            return
        }
        #expect(ending.reason == "the deadline passed after 1 attempts; last errorCode 10000001")
    }

    @Test func aRefusalBeforeSendingDoesNotCountAsAnAttempt() {
        var attempts = Self.machine(journaled: false)
        var random = SplitMix64(state: 3)
        _ = attempts.startAdmitted(at: Self.t0)
        let noSecret = CommandAttempts.Report(verdict: .rejected(reason: "no appSecret for tenant t9"), sentRequest: false, summary: "not sent")
        guard case .finish(let ending) = attempts.finishedAdmitted(noSecret, at: Self.t0, random: &random) else {
            Issue.record("rejected for good")
            return
        }
        #expect(ending.status == .rejected && ending.attempts == 0 && ending.reason == "no appSecret for tenant t9")
    }

    @Test func aRefusedTokenIsRetriedAtOnceUntilMaxAttempts() {
        var attempts = Self.machine(maxAttempts: 2, journaled: false)
        var random = SplitMix64(state: 3)
        _ = attempts.startAdmitted(at: Self.t0)
        let stale = CommandAttempts.Report(
            verdict: .refreshTokenAndRetry, sentRequest: true, summary: "errorCode 900001", httpStatus: 200, errorCode: "900001")
        #expect(attempts.finishedAdmitted(stale, at: Self.t0, random: &random) == .attempt(number: 2), "no wait")
        guard case .finish(let ending) = attempts.finishedAdmitted(stale, at: Self.t0, random: &random) else {
            Issue.record("fails at the cap")
            return
        }
        #expect(ending.status == .failed && ending.reason == "OIFDE kept refusing fresh tokens (errorCode 900001)")
    }

    /// Any sequence of answers and any timing: one ending, never an attempt past the deadline or
    /// the cap, never a wait that ends past the deadline, success only from a success.
    @Test func everyRunEndsOnceWithinItsLimits() {
        var random = SplitMix64(state: 2026)
        let verdicts: [CommandAttempts.Report] = [
            Self.unavailable, Self.applied,
            .init(verdict: .retry(retryAfter: .seconds(3)), sentRequest: true, summary: "HTTP 429", httpStatus: 429),
            .init(verdict: .refreshTokenAndRetry, sentRequest: true, summary: "errorCode 900001", httpStatus: 200, errorCode: "900001"),
            .init(verdict: .rejected(reason: "refused"), sentRequest: true, summary: "errorCode 10000002", httpStatus: 200, errorCode: "10000002"),
            .init(verdict: .retry(retryAfter: nil), sentRequest: false, summary: "transport error"),
        ]
        for run in 0..<2000 {
            let maxAttempts = Int(random.next() % 6) + 1
            let deadlineSeconds = Double(random.next() % 30) + 0.5
            var attempts = Self.machine(deadlineAfter: deadlineSeconds, maxAttempts: maxAttempts, journaled: run % 2 == 0)
            let deadline = Self.t0.addingTimeInterval(deadlineSeconds)
            var now = Self.t0
            var action = attempts.start(at: now)
            var sent = 0
            var last: CommandAttempts.Report?
            // A slot from `admitted` goes back exactly once: with the attempt it allowed, or by
            // `.releaseGrant`, and always before the outcome.
            var holdsSlot = false
            var steps = 0
            while steps < 100 {
                steps += 1
                // A journal write or an attempt takes 0-2 s of virtual time; a wait takes its delay.
                let step = Double(random.next() % 2000) / 1000
                switch action {
                case .acquire:
                    #expect(!holdsSlot, "run \(run): asks for a slot while holding one")
                    // Admission may take a while (a full limit, an open breaker).
                    now = now.addingTimeInterval(step)
                    action = attempts.admitted(at: now)
                    holdsSlot = true
                case .recordStart:
                    #expect(holdsSlot, "run \(run): the start is journaled once a request may go")
                    now = now.addingTimeInterval(step)
                    action = attempts.startRecorded(at: now)
                case .releaseGrant:
                    #expect(holdsSlot, "run \(run): gives back a slot it does not hold")
                    holdsSlot = false
                    action = attempts.grantReleased()
                case .attempt(let number):
                    #expect(holdsSlot, "run \(run): attempt \(number) without a slot")
                    holdsSlot = false
                    #expect(now < deadline, "run \(run): attempt \(number) starts before the deadline")
                    #expect(number <= maxAttempts, "run \(run): attempt \(number) within \(maxAttempts)")
                    let report = verdicts[Int(random.next() % UInt64(verdicts.count))]
                    sent += 1
                    last = report
                    now = now.addingTimeInterval(step)
                    action = attempts.attemptFinished(report, at: now, random: &random)
                case .wait(let delay):
                    #expect(!holdsSlot, "run \(run): waits holding a slot")
                    #expect(now.addingTimeInterval(delay.timeInterval) < deadline, "run \(run): a wait ends before the deadline")
                    now = now.addingTimeInterval(delay.timeInterval)
                    action = attempts.waited(at: now)
                case .finish(let ending):
                    #expect(!holdsSlot, "run \(run): ends holding a slot")
                    #expect(ending.attempts <= min(sent, maxAttempts), "run \(run)")
                    if ending.status == .succeeded { #expect(last?.verdict == .succeeded, "run \(run): success only from a success") }
                    steps = 1000
                }
            }
            #expect(steps == 1000, "run \(run) ended")
        }
    }

    @Test func aFailedProbeDoesNotUseUpTheCommandsAttempts() {
        var attempts = Self.machine(maxAttempts: 1, journaled: false)
        var random = SplitMix64(state: 5)
        #expect(attempts.start(at: Self.t0) == .acquire)
        #expect(attempts.admitted(probe: true, at: Self.t0) == .attempt(number: 1))
        var probeFailed = Self.unavailable
        probeFailed.probe = true
        #expect(attempts.attemptFinished(probeFailed, at: Self.t0, random: &random) == .acquire, "back in line, no backoff, not failed")
        #expect(attempts.admitted(probe: true, at: Self.t0.addingTimeInterval(4)) == .attempt(number: 2))
        #expect(attempts.attemptFinished(probeFailed, at: Self.t0.addingTimeInterval(4), random: &random) == .acquire)
        #expect(attempts.admitted(at: Self.t0.addingTimeInterval(8)) == .attempt(number: 3))
        guard case .finish(let ending) = attempts.attemptFinished(Self.applied, at: Self.t0.addingTimeInterval(8), random: &random) else {
            Issue.record("a success finishes")
            return
        }
        #expect(ending.status == .succeeded && ending.attempts == 3, "attempts counts every request sent")
    }

    /// A failure during a known outage whose outcome is known uses up no attempt; one of unknown
    /// outcome always does, since each may have applied the change.
    @Test func aKnownOutageFailureUsesUpNoAttemptUnlessItsOutcomeIsUnknown() {
        var attempts = Self.machine(maxAttempts: 1, journaled: false)
        var random = SplitMix64(state: 9)
        #expect(attempts.start(at: Self.t0) == .acquire)
        #expect(attempts.admitted(at: Self.t0) == .attempt(number: 1))
        var outage = Self.unavailable
        outage.duringOutage = true
        guard case .wait = attempts.attemptFinished(outage, at: Self.t0, random: &random) else {
            Issue.record("not counted (maxAttempts 1 would end it), but waited for")
            return
        }
        #expect(attempts.waited(at: Self.t0.addingTimeInterval(1)) == .acquire)
        #expect(attempts.admitted(at: Self.t0.addingTimeInterval(2)) == .attempt(number: 2))
        var lost = outage
        lost.unknownOutcome = "no answer within 1s"
        guard case .finish(let ending) = attempts.attemptFinished(lost, at: Self.t0.addingTimeInterval(2), random: &random) else {
            Issue.record("an unknown outcome counts: maxAttempts 1 is used up")
            return
        }
        #expect(ending.status == .failed && ending.attempts == 2 && ending.inDoubt != nil)
    }

    @Test func aDeadlineThatPassesWhileTheCircuitIsOpenEndsExpiredSayingSo() {
        var attempts = Self.machine(deadlineAfter: 5, maxAttempts: 3, journaled: true)
        #expect(attempts.start(at: Self.t0) == .acquire)
        guard case .finish(let ending) = attempts.notAdmitted(circuitOpen: true, at: Self.t0.addingTimeInterval(5)) else {
            Issue.record("expired")
            return
        }
        #expect(ending.status == .expired && ending.attempts == 0)
        #expect(ending.reason.contains("while the circuit to OIFDE was open"), "\(ending.reason)")
    }

    @Test func theStartIsJournaledOnlyOnceAdmittedSoAWaitingCommandIsNotInDoubt() {
        var attempts = Self.machine()
        #expect(attempts.start(at: Self.t0) == .acquire, "nothing journaled before a request may go")
        #expect(attempts.admitted(at: Self.t0) == .recordStart)
        #expect(attempts.startRecorded(at: Self.t0) == .attempt(number: 1))
    }
}
