import PipelineCore
import Testing
import WorkModeDomain

/// Confirm before ack (docs/contract.md section 4) without a broker.
@Suite(.timeLimit(.minutes(10))) struct SettlementTests {
    @Test func everythingConfirmedIsAcked() {
        var random = SplitMix64(state: 1)
        var settlement = Settlement(owed: 3)
        #expect(settlement.start() == .publish([0, 1, 2]))
        #expect(settlement.confirmed(2, .acked, random: &random) == nil, "confirms may come in any order")
        #expect(settlement.confirmed(0, .acked, random: &random) == nil)
        #expect(settlement.confirmed(1, .acked, random: &random) == .ack(nil), "no pause held, none to let go")
        #expect(settlement.lost() == nil, "settled once")
    }

    @Test func nothingOwedIsAckedAtOnce() {
        var settlement = Settlement(owed: 0)
        #expect(settlement.start() == .ack(nil))
    }

    /// The refused rounds are one `FaultRetry`: the first holds the pipeline's pause, the pauses
    /// grow with `Pauses.retryBackoff`, and the ack lets the pause go as a recovery.
    @Test func whatTheBrokerRefusesIsPublishedAgainAfterAPauseAndOnlyThat() throws {
        var random = SplitMix64(state: 2)
        var settlement = Settlement(owed: 2)
        _ = settlement.start()
        #expect(settlement.confirmed(0, .acked, random: &random) == nil)
        let first = try #require(pauseOf(settlement.confirmed(1, .refused, random: &random)))
        #expect(first.holdsPause, "the first refused round holds the pipeline's pause")
        #expect(first.delay <= Pauses.retryBackoff.ceiling(afterAttempt: 1))
        #expect(settlement.resumed() == .publish([1]), "the acked one is not sent twice")
        let second = try #require(pauseOf(settlement.confirmed(1, .refused, random: &random)))
        #expect(!second.holdsPause, "held once, not per round")
        #expect(second.delay >= Pauses.retryBackoff.ceiling(afterAttempt: 2) / 2, "pauses grow")
        #expect(settlement.resumed() == .publish([1]))
        #expect(settlement.confirmed(0, .acked, random: &random) == nil, "a confirm of another round is ignored")
        #expect(settlement.confirmed(1, .acked, random: &random) == .ack(FaultRetry.Release(cause: .publish, recovered: true)))
    }

    @Test func aLostChannelRequeuesEvenWhileRefusedMessagesWait() {
        var random = SplitMix64(state: 3)
        var settlement = Settlement(owed: 1)
        _ = settlement.start()
        #expect(pauseOf(settlement.confirmed(0, .refused, random: &random))?.holdsPause == true)
        #expect(settlement.lost() == .requeue(FaultRetry.Release(cause: .publish, recovered: false)), "gives the pause up, unrecovered")
        #expect(settlement.confirmed(0, .acked, random: &random) == nil)
    }

    @Test func aLossWithoutARefusalHoldsNothingToLetGo() {
        var settlement = Settlement(owed: 1)
        _ = settlement.start()
        #expect(settlement.lost() == .requeue(nil))
    }

    private func pauseOf(_ action: Settlement.Action?) -> FaultRetry.Wait? {
        if case .pause(let wait) = action { return wait }
        return nil
    }

    /// Random outcomes in random order with losses anywhere: settled exactly once, acked only when
    /// every owed message has been confirmed, requeued only after a loss, and nothing published
    /// again once the broker took it.
    @Test func randomRunsSettleOnceAndNeverAckEarly() {
        var random = SplitMix64(state: 4242)
        for run in 0..<5000 {
            let owed = Int(random.next() % 4)
            var settlement = Settlement(owed: owed)
            var taken = Set<Int>()
            var lostOnce = false
            var settledBy: Settlement.Action?
            var action: Settlement.Action? = settlement.start()
            var steps = 0
            while let current = action, steps < 200 {
                steps += 1
                switch current {
                case .ack(let release), .requeue(let release):
                    #expect((release != nil) == (settlement.refusedRounds > 0), "run \(run): lets go only of a pause it holds")
                    #expect(settledBy == nil, "run \(run): settled once")
                    settledBy = current
                    action = nil
                case .pause:
                    action = random.next() % 10 == 0 ? settlement.lost() : settlement.resumed()
                    if case .requeue = action { lostOnce = true }
                case .publish(let indices):
                    #expect(taken.isDisjoint(with: indices), "run \(run): nothing taken is sent again")
                    var next: Settlement.Action?
                    for index in indices.shuffled(using: &random) {
                        if random.next() % 20 == 0 {
                            next = settlement.lost()
                            lostOnce = true
                            break
                        }
                        let confirm: Settlement.Confirm = random.next() % 3 == 0 ? .refused : .acked
                        if confirm == .acked { taken.insert(index) }
                        if let answer = settlement.confirmed(index, confirm, random: &random) { next = answer }
                    }
                    action = next
                }
            }
            #expect(settledBy != nil && settlement.isSettled, "run \(run) ended")
            if case .ack = settledBy { #expect(taken == Set(0..<owed), "run \(run): acked only with every message confirmed") }
            if case .requeue = settledBy { #expect(lostOnce, "run \(run): requeued only after a loss") }
        }
    }
}
