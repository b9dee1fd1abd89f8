import Foundation
import PipelineCore
import Testing

/// The drain of docs/contract.md section 4 in virtual time.
@Suite(.timeLimit(.minutes(10))) struct DrainTests {
    static let t0 = Moment(seconds: 1_764_064_800)

    @Test func aDrainCancelsTheConsumerRequeuesLateDeliveriesAndEndsWhenTheLastFinishes() {
        var drain = Drain<Int>()
        #expect(drain.delivered(1, at: Self.t0) == .process)
        #expect(drain.delivered(2, at: Self.t0) == .process)
        #expect(drain.requested(at: Self.t0, timeout: .seconds(5)) == [.cancelConsumer])
        #expect(drain.delivered(3, at: Self.t0) == .requeue, "what the broker had already sent goes back")
        #expect(drain.finished(1) == nil)
        #expect(drain.finished(2) == .drained)
        #expect(drain.tick(at: Self.t0.addingTimeInterval(10)) == nil, "nothing to cut")
    }

    /// A single-active queue's return ahead of held deliveries (`HandOver`) still starts while
    /// draining, until the deadline cuts the drain short; the drain is done only after it ends.
    @Test func aReturnAheadOfHeldOnesStartsWhileDrainingUntilTheCut() {
        var drain = Drain<Int>()
        #expect(drain.requested(at: Self.t0, timeout: .seconds(5)) == [.cancelConsumer, .drained])
        #expect(drain.delivered(1, at: Self.t0, aheadOfHeld: false) == .requeue)
        #expect(drain.delivered(2, at: Self.t0, aheadOfHeld: true) == .process)
        #expect(drain.finished(2) == .drained, "drained again once it ends")
        #expect(drain.delivered(3, at: Self.t0, aheadOfHeld: true) == .process)
        #expect(drain.tick(at: Self.t0.addingTimeInterval(6)) == .cutShort(count: 1))
        #expect(drain.delivered(4, at: Self.t0.addingTimeInterval(6), aheadOfHeld: true) == .requeue, "after the cut nothing starts")
    }

    /// On single-active queues what will not start is held for the channel's close, never nacked:
    /// a nack would put a call's earlier command behind its later ones. Asking first (before a
    /// delivery waits out a pause) counts nothing in.
    @Test func onSingleActiveQueuesWhatWillNotStartIsHeldForTheClose() {
        var drain = Drain<Int>(holdsUntilClose: true)
        #expect(drain.admission() == .process)
        #expect(drain.inFlight == 0, "asking counts nothing in")
        #expect(drain.delivered(1, at: Self.t0) == .process)
        _ = drain.requested(at: Self.t0, timeout: .seconds(5))
        #expect(drain.admission() == .holdUntilClose)
        #expect(drain.delivered(2, at: Self.t0) == .holdUntilClose)
        #expect(drain.admission(aheadOfHeld: true) == .process, "a return ahead of held ones still starts")
        #expect(drain.inFlight == 1)
        var plain = Drain<Int>()
        _ = plain.requested(at: Self.t0, timeout: .seconds(5))
        #expect(plain.admission() == .requeue && plain.delivered(1, at: Self.t0) == .requeue, "other queues nack at once")
    }

    @Test func anIdleSessionDrainsAtOnce() {
        var drain = Drain<Int>()
        #expect(drain.requested(at: Self.t0, timeout: .seconds(5)) == [.cancelConsumer, .drained])
        #expect(drain.requested(at: Self.t0, timeout: .seconds(5)).isEmpty, "asked twice, done once")
    }

    @Test func theDeadlineCutsWhatIsLeftOnce() {
        var drain = Drain<Int>()
        _ = drain.delivered(1, at: Self.t0)
        _ = drain.requested(at: Self.t0, timeout: .seconds(5))
        #expect(drain.nextWakeup == Self.t0.addingTimeInterval(5))
        #expect(drain.tick(at: Self.t0.addingTimeInterval(4.9)) == nil)
        #expect(drain.tick(at: Self.t0.addingTimeInterval(5)) == .cutShort(count: 1))
        #expect(drain.tick(at: Self.t0.addingTimeInterval(6)) == nil)
        #expect(drain.finished(1) == .drained, "the cut command, settled (requeued), ends the drain")
    }

    /// Random deliveries, finishes, a stop at a random time and ticks: nothing is processed after
    /// the stop, the drain reports drained exactly once and only with nothing in flight, and it
    /// never runs past its deadline without cutting what is left.
    @Test func randomRunsDrainOnceWithinTheirDeadline() {
        var random = SplitMix64(state: 77)
        for run in 0..<3000 {
            var drain = Drain<Int>()
            var now = Self.t0
            var running = Set<Int>()
            var next = 0
            var stopAt: Moment?
            var deadline: Moment?
            var drained = 0
            var cutAt: Moment?
            for _ in 0..<60 {
                now = now.addingTimeInterval(Double(random.next() % 500) / 1000)
                if deadline == nil, random.next() % 15 == 0 {
                    stopAt = now
                    deadline = now.addingTimeInterval(2)
                    let actions = drain.requested(at: now, timeout: .seconds(2))
                    #expect(actions.first == .cancelConsumer)
                    if actions.contains(.drained) {
                        drained += 1
                        #expect(running.isEmpty)
                    }
                }
                switch random.next() % 3 {
                case 0:
                    next += 1
                    let admission = drain.delivered(next, at: now)
                    #expect((admission == .requeue) == (stopAt != nil), "run \(run): nothing starts after the stop")
                    if admission == .process { running.insert(next) }
                case 1:
                    guard let done = running.randomElement(using: &random) else { continue }
                    running.remove(done)
                    if drain.finished(done) == .drained {
                        drained += 1
                        #expect(running.isEmpty && stopAt != nil)
                    }
                default:
                    if case .cutShort(let count) = drain.tick(at: now) {
                        #expect(cutAt == nil && count == running.count && now >= (deadline ?? .distantFuture))
                        cutAt = now
                        // Cut short: each is requeued and settled.
                        for entry in running where drain.finished(entry) == .drained { drained += 1 }
                        running.removeAll()
                    }
                }
                if let deadline, let wake = drain.nextWakeup { #expect(wake == deadline, "run \(run)") }
            }
            #expect(drained <= 1, "run \(run): drained once at most")
            if stopAt != nil, running.isEmpty { #expect(drained == 1, "run \(run): a stop with nothing left is drained") }
        }
    }
}
