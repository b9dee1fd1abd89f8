import Foundation
import PipelineCore
import Testing

/// Letting go of single-active queues without reordering a call's commands, in virtual time.
@Suite(.timeLimit(.minutes(10))) struct HandOverTests {
    static let t0 = ContinuousClock.now

    @Test func beforeLettingGoEveryDeliveryStarts() {
        var handOver = HandOver<String>()
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .start)
        #expect(handOver.delivered(tag: "p1", redelivered: false, at: Self.t0) == .start)
        #expect(handOver.closesAt(tags: ["p1"]) == nil, "not letting go")
    }

    @Test func returnsAheadOfTheFirstFreshDeliveryStartAndEverythingAfterItIsHeld() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .start, "an earlier close's return")
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .start)
        #expect(handOver.delivered(tag: "p1", redelivered: false, at: Self.t0) == .hold, "fresh: held for the close")
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .hold, "after a fresh one: this consumer's own")
        #expect(handOver.delivered(tag: "p3", redelivered: true, at: Self.t0) == .start, "another queue's returns are its own")
    }

    /// Slow commands fill the prefetch: no return arrives for longer than the quiet period, but
    /// only because there is no room. The channel may close only a quiet period after the last
    /// settlement, when the broker has had the chance to send the next returns.
    @Test func aFullPrefetchIsNoSignThatTheReturnsAreAllTaken() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .start)
        handOver.settled(at: Self.t0 + .seconds(2))
        #expect(handOver.closesAt(tags: ["p1"], quiet: .milliseconds(250)) == Self.t0 + .seconds(2) + .milliseconds(250))
    }

    @Test func aSealedChannelHoldsEverything() {
        var handOver = HandOver<String>()
        handOver.seal(at: Self.t0)
        #expect(handOver.isLettingGo)
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .hold, "would be unsettled at the close")
    }

    @Test func aFreshDeliveryBeforeLettingGoMeansTheQueuesReturnsWereAllTaken() {
        var handOver = HandOver<String>()
        #expect(handOver.delivered(tag: "p1", redelivered: false, at: Self.t0) == .start)
        handOver.letGo(at: Self.t0 + .seconds(1))
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0 + .seconds(1)) == .hold)
        #expect(handOver.closesAt(tags: ["p1"]) == Self.t0 + .seconds(1), "every queue showed a fresh delivery: at once")
    }

    @Test func withoutAFreshDeliveryTheChannelClosesAQuietPeriodAfterTheLastReturn() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        #expect(handOver.closesAt(tags: ["p1", "p3"], quiet: .milliseconds(250)) == Self.t0 + .milliseconds(250))
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0 + .milliseconds(200)) == .start)
        #expect(handOver.closesAt(tags: ["p1", "p3"], quiet: .milliseconds(250)) == Self.t0 + .milliseconds(450))
        #expect(handOver.delivered(tag: "p1", redelivered: false, at: Self.t0 + .milliseconds(300)) == .hold)
        #expect(handOver.closesAt(tags: ["p1", "p3"], quiet: .milliseconds(250)) == Self.t0 + .milliseconds(450), "p3 not shown yet")
        #expect(handOver.delivered(tag: "p3", redelivered: false, at: Self.t0 + .milliseconds(300)) == .hold)
        #expect(handOver.closesAt(tags: ["p1", "p3"]) == Self.t0, "both queues showed a fresh delivery")
    }

    /// The broker's behaviour (`SingleActiveOrderTests`) played against the rule: consumers take
    /// what their prefetch allows, in the broker's order; each lets go after a few deliveries;
    /// the order in which messages are first started is the queue's order.
    @Test(arguments: 0..<20) func aChainOfHandOversStartsEveryMessageInQueueOrder(seed: Int) {
        var generator = SplitMix64(state: UInt64(seed))
        var returns: [Int] = []  // returned, not yet taken: delivered first
        var fresh = Array(0..<300)
        var started: [Int] = []
        var startedSet = Set<Int>()
        var acknowledged = Set<Int>()
        var clock = Self.t0
        for _ in 0..<12 {
            var handOver = HandOver<String>()
            let prefetch = Int.random(in: 5...40, using: &generator)
            let letGoAfter = Int.random(in: 0...30, using: &generator)
            var held: [Int] = []
            var inFlight: [Int] = []
            var deliveredCount = 0
            while true {
                // The broker delivers while the prefetch has room: returns first.
                guard held.count + inFlight.count < prefetch else {
                    if inFlight.isEmpty { break }
                    // Everything started finishes together (acknowledged), 300 ms later: slow
                    // commands.
                    acknowledged.formUnion(inFlight)
                    inFlight.removeAll()
                    clock = clock + .milliseconds(300)
                    handOver.settled(at: clock)
                    // The consumer may decide to close before the broker has answered the ack
                    // with the next returns.
                    if handOver.isLettingGo, inFlight.isEmpty, let closesAt = handOver.closesAt(tags: ["p"]), closesAt <= clock { break }
                    continue
                }
                let next: (Int, Bool)?
                if !returns.isEmpty {
                    next = (returns.removeFirst(), true)
                } else if !fresh.isEmpty {
                    next = (fresh.removeFirst(), false)
                } else {
                    next = nil
                }
                guard let (message, redelivered) = next else {
                    acknowledged.formUnion(inFlight)
                    inFlight.removeAll()
                    break
                }
                deliveredCount += 1
                if deliveredCount == letGoAfter { handOver.letGo(at: clock) }
                clock = clock + .milliseconds(1)
                switch handOver.delivered(tag: "p", redelivered: redelivered, at: clock) {
                case .start:
                    if !startedSet.contains(message) {
                        started.append(message)
                        startedSet.insert(message)
                    }
                    inFlight.append(message)
                case .hold:
                    held.append(message)
                }
                if handOver.isLettingGo, inFlight.isEmpty, let closesAt = handOver.closesAt(tags: ["p"]), closesAt <= clock { break }
            }
            acknowledged.formUnion(inFlight)
            // What the broker sent before the close took effect arrives sealed: held.
            if handOver.isLettingGo {
                while held.count < prefetch, !returns.isEmpty { held.append(returns.removeFirst()) }
            }
            // The close returns what was held, in order, behind returns not yet taken.
            returns.append(contentsOf: held.sorted())
            clock = clock + .seconds(1)
        }
        // A last consumer that never lets go takes the rest.
        for message in returns + fresh where !startedSet.contains(message) {
            started.append(message)
            startedSet.insert(message)
        }
        #expect(started == Array(0..<300), "seed \(seed): first starts out of queue order")
    }
}
