import Foundation
import PipelineCore
import Testing
import WorkModeDomain

/// docs/contract.md section 14: an attempt whose outcome is unknown makes the command in doubt,
/// whatever its final status, and `expired` then never appears (it promises "not applied"); a
/// request that provably was not sent is not an attempt and never makes a command in doubt.
@Suite(.timeLimit(.minutes(10))) struct InDoubtTests {
    static let lost = CommandAttempts.Report(
        verdict: .retry(retryAfter: nil), sentRequest: true, summary: "transport error: timeout",
        unknownOutcome: "no complete answer within the time limit")
    static let unsent = CommandAttempts.Report(
        verdict: .retry(retryAfter: nil), sentRequest: true, summary: "transport error: connect: could not connect", neverSent: true)

    /// Runs reports in order, granting every acquire at once and waiting out every backoff;
    /// `stepSeconds` of virtual time pass per step.
    static func run(
        _ reports: [CommandAttempts.Report], deadlineAfter seconds: Double = 120, maxAttempts: Int = 5, stepSeconds: Double = 0.5
    ) -> (ending: CommandAttempts.Ending?, attemptsAsked: [Int]) {
        var attempts = CommandAttemptsTests.machine(deadlineAfter: seconds, maxAttempts: maxAttempts, journaled: false)
        var random = SplitMix64(state: 3)
        var now = CommandAttemptsTests.t0
        var action = attempts.startAdmitted(at: now)
        var asked: [Int] = []
        var queue = reports[...]
        // The last report repeats once the list is used up.
        var last = reports.last ?? CommandAttemptsTests.applied
        for _ in 0..<1000 {
            switch action {
            case .finish(let ending): return (ending, asked)
            case .attempt(let number):
                asked.append(number)
                now = now.addingTimeInterval(stepSeconds)
                let report = queue.popFirst() ?? last
                last = report
                action = attempts.finishedAdmitted(report, at: now, random: &random)
            case .wait(let delay):
                now = now.addingTimeInterval(delay.timeInterval)
                action = attempts.waitedAdmitted(at: now)
            case .acquire:
                action = attempts.admitted(at: now)
            case .recordStart:
                action = attempts.startRecorded(at: now)
            case .releaseGrant:
                action = attempts.grantReleased()
            }
        }
        return (nil, asked)
    }

    @Test func aLostAnswerThenSuccessSucceedsInDoubtNamingTheAttempt() {
        let (ending, asked) = Self.run([Self.lost, CommandAttemptsTests.applied])
        #expect(ending?.status == .succeeded && ending?.attempts == 2)
        #expect(ending?.inDoubt == "attempt 1: no complete answer within the time limit", "\(String(describing: ending))")
        #expect(asked == [1, 2])
    }

    @Test func aLostAnswerThenTheDeadlineIsFailedInDoubtNeverExpired() {
        // Every attempt times out and takes longer than what is left: the deadline ends it.
        let (ending, _) = Self.run([Self.lost], deadlineAfter: 3, stepSeconds: 1)
        #expect(ending?.status == .failed, "\(String(describing: ending))")
        #expect(ending?.inDoubt?.hasPrefix("attempt 1: ") == true)
        #expect(ending?.reason.contains("in doubt") == true && ending?.reason.contains("may have been applied") == true, "\(ending?.reason ?? "")")
    }

    @Test func aLostAnswerThenMaxAttemptsIsFailedInDoubt() {
        let (ending, _) = Self.run([Self.lost, CommandAttemptsTests.unavailable], maxAttempts: 2)
        #expect(ending?.status == .failed && ending?.inDoubt != nil && ending?.attempts == 2)
    }

    @Test func answersThatAreKnownNeverMakeACommandInDoubt() {
        let (failed, _) = Self.run([CommandAttemptsTests.unavailable], maxAttempts: 3)
        #expect(failed?.status == .failed && failed?.inDoubt == nil)
        let (expired, _) = Self.run([CommandAttemptsTests.unavailable], deadlineAfter: 2, maxAttempts: 50, stepSeconds: 1)
        #expect(expired?.status == .expired && expired?.inDoubt == nil, "expired without doubt: certainly not applied")
    }

    @Test func requestsThatWereNotSentAreNotAttempts() {
        // Three refused connections, then an answer: one attempt, not four, and no doubt.
        let (ending, asked) = Self.run([Self.unsent, Self.unsent, Self.unsent, CommandAttemptsTests.applied], maxAttempts: 2)
        #expect(ending?.status == .succeeded && ending?.attempts == 1 && ending?.inDoubt == nil, "\(String(describing: ending))")
        #expect(asked == [1, 1, 1, 1], "each unsent request keeps its number")
        // Never sent until the deadline: expired, not failed, whatever maxAttempts says.
        let (never, _) = Self.run([Self.unsent], deadlineAfter: 5, maxAttempts: 1)
        #expect(never?.status == .expired && never?.attempts == 0 && never?.inDoubt == nil, "\(String(describing: never))")
    }
}
