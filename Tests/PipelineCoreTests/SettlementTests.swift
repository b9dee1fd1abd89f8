import PipelineCore
import Testing

/// Confirm before ack (docs/contract.md section 4) without a broker.
@Suite(.timeLimit(.minutes(10))) struct SettlementTests {
    @Test func everythingConfirmedIsAcked() {
        var settlement = Settlement(owed: 3)
        #expect(settlement.start() == .publish([0, 1, 2]))
        #expect(settlement.confirmed(2, .acked) == nil, "confirms may come in any order")
        #expect(settlement.confirmed(0, .acked) == nil)
        #expect(settlement.confirmed(1, .acked) == .ack)
        #expect(settlement.lost() == nil, "settled once")
    }

    @Test func nothingOwedIsAckedAtOnce() {
        var settlement = Settlement(owed: 0)
        #expect(settlement.start() == .ack)
    }

    @Test func whatTheBrokerRefusesIsPublishedAgainAfterAPauseAndOnlyThat() {
        var settlement = Settlement(owed: 2)
        _ = settlement.start()
        #expect(settlement.confirmed(0, .acked) == nil)
        #expect(settlement.confirmed(1, .refused) == .pause(failures: 1))
        #expect(settlement.resumed() == .publish([1]), "the acked one is not sent twice")
        #expect(settlement.confirmed(1, .refused) == .pause(failures: 2), "pauses grow")
        #expect(settlement.resumed() == .publish([1]))
        #expect(settlement.confirmed(0, .acked) == nil, "a confirm of another round is ignored")
        #expect(settlement.confirmed(1, .acked) == .ack)
    }

    @Test func aLostChannelRequeuesEvenWhileRefusedMessagesWait() {
        var settlement = Settlement(owed: 1)
        _ = settlement.start()
        #expect(settlement.confirmed(0, .refused) == .pause(failures: 1))
        #expect(settlement.lost() == .requeue)
        #expect(settlement.confirmed(0, .acked) == nil)
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
                case .ack, .requeue:
                    #expect(settledBy == nil, "run \(run): settled once")
                    settledBy = current
                    action = nil
                case .pause:
                    action = random.next() % 10 == 0 ? settlement.lost() : settlement.resumed()
                    lostOnce = lostOnce || action == .requeue
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
                        if let answer = settlement.confirmed(index, confirm) { next = answer }
                    }
                    action = next
                }
            }
            #expect(settledBy != nil && settlement.isSettled, "run \(run) ended")
            if settledBy == .ack { #expect(taken == Set(0..<owed), "run \(run): acked only with every message confirmed") }
            if settledBy == .requeue { #expect(lostOnce, "run \(run): requeued only after a loss") }
        }
    }
}
