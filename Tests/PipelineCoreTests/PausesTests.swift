import PipelineCore
import Testing
import WorkModeDomain

/// Holding new deliveries while a fault lasts (docs/contract.md section 4), without a journal or a broker.
@Suite(.timeLimit(.minutes(10))) struct PausesTests {
    @Test func theFirstHolderPausesAndTheLastOneResumes() {
        var pauses = Pauses()
        #expect(pauses.hold(.journal, detail: "No space left on device") == .paused(.journal, detail: "No space left on device"))
        #expect(pauses.hold(.journal, detail: "No space left on device") == nil, "announced once, not per command")
        #expect(pauses.isPaused)
        #expect(pauses.release(.journal, recovered: true) == nil, "another command still waits it out")
        #expect(pauses.isPaused)
        #expect(pauses.release(.journal, recovered: true) == .resumed(.journal))
        #expect(!pauses.isPaused && pauses.reason == nil)
        #expect(pauses.release(.journal, recovered: true) == nil, "nothing held: nothing to announce")
    }

    @Test func aHolderThatGivesUpReleasesWithoutClaimingRecovery() {
        var pauses = Pauses()
        _ = pauses.hold(.publish, detail: "nacked")
        #expect(pauses.release(.publish, recovered: false) == .released(.publish))
        #expect(pauses.hold(.publish, detail: "nacked again") == .paused(.publish, detail: "nacked again"), "the next fault pauses anew")
    }

    @Test func causesAreHeldApartAndBothNamedInTheReason() {
        var pauses = Pauses()
        _ = pauses.hold(.journal, detail: "EIO")
        _ = pauses.hold(.publish, detail: "first")
        _ = pauses.hold(.publish, detail: "latest")
        #expect(pauses.reason == "the completion journal cannot be written: EIO; the broker refuses result events or dead letters: latest")
        #expect(pauses.release(.journal, recovered: true) == .resumed(.journal))
        #expect(pauses.isPaused, "the broker still refuses")
        #expect(pauses.reason == "the broker refuses result events or dead letters: latest")
        #expect(pauses.release(.publish, recovered: true) == nil)
        #expect(pauses.release(.publish, recovered: true) == .resumed(.publish))
        #expect(!pauses.isPaused)
    }

    /// Retries while paused and reconnects share `Backoff`: between half the ceiling and the
    /// ceiling, here 200 ms doubling to 5 s.
    @Test func retryDelaysStayInTheUpperHalfOfTheirCeiling() {
        var random = SplitMix64(state: 30)
        for failures in 1...20 {
            let ceiling = Pauses.retryBackoff.ceiling(afterAttempt: failures)
            for _ in 0..<50 {
                let delay = Pauses.retryDelay(afterFailures: failures, using: &random)
                #expect(delay >= ceiling / 2 && delay <= ceiling, "\(failures): \(delay)")
            }
        }
        #expect(Pauses.retryBackoff.ceiling(afterAttempt: 1) == .milliseconds(200))
        #expect(Pauses.retryBackoff.ceiling(afterAttempt: 20) == .seconds(5))
    }

    /// A command waiting out a fault (the journal write in `CommandProcessor.writeJournal`):
    /// held from its first failure, its waits growing, let go as a recovery only when it wrote.
    @Test func aFaultRetryHoldsOnItsFirstFailureAndLetsGoAsItEnds() {
        var random = SplitMix64(state: 31)
        var retry = FaultRetry(cause: .journal)
        #expect(retry.ended(succeeded: true) == nil, "a first try that went through held nothing")
        var pauses = Pauses()
        var waits: [FaultRetry.Wait] = []
        for _ in 0..<6 {
            let wait = retry.failed(using: &random)
            if wait.holdsPause { #expect(pauses.hold(retry.cause, detail: "EIO") == .paused(.journal, detail: "EIO")) }
            waits.append(wait)
        }
        #expect(waits.map(\.holdsPause) == [true, false, false, false, false, false])
        for (index, wait) in waits.enumerated() {
            let ceiling = Pauses.retryBackoff.ceiling(afterAttempt: index + 1)
            #expect(wait.delay >= ceiling / 2 && wait.delay <= ceiling, "failure \(index + 1): \(wait.delay)")
        }
        #expect(retry.ended(succeeded: false) == FaultRetry.Release(cause: .journal, recovered: false))
        let release = retry.ended(succeeded: true)
        #expect(release == FaultRetry.Release(cause: .journal, recovered: true))
        if let release { #expect(pauses.release(release) == .resumed(.journal)) }
    }

    /// Random holds and releases over both causes: paused exactly while some command holds, each
    /// cause announced once when its first holder comes and once when its last goes.
    @Test func announcementsPairUpWithHolders() {
        var random = SplitMix64(state: 7)
        for _ in 0..<500 {
            var pauses = Pauses()
            var holders: [Pauses.Cause: Int] = [.journal: 0, .publish: 0]
            var announced: [Pauses.Cause: Int] = [.journal: 0, .publish: 0]
            for _ in 0..<40 {
                let cause: Pauses.Cause = Bool.random(using: &random) ? .journal : .publish
                if Bool.random(using: &random) {
                    let change = pauses.hold(cause, detail: "d")
                    holders[cause, default: 0] += 1
                    if holders[cause] == 1 { #expect(change == .paused(cause, detail: "d")) } else { #expect(change == nil) }
                    if change != nil { announced[cause, default: 0] += 1 }
                } else if holders[cause, default: 0] > 0 {
                    let change = pauses.release(cause, recovered: true)
                    holders[cause, default: 0] -= 1
                    #expect((change != nil) == (holders[cause] == 0))
                    if change != nil { announced[cause, default: 0] -= 1 }
                }
                #expect(pauses.isPaused == holders.values.contains { $0 > 0 })
                #expect(announced[.journal] == ((holders[.journal] ?? 0) > 0 ? 1 : 0))
                #expect(announced[.publish] == ((holders[.publish] ?? 0) > 0 ? 1 : 0))
            }
        }
    }
}
