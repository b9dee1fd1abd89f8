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
        #expect(handOver.next(tags: ["p1"], at: Self.t0) == nil, "not letting go")
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
    /// only because there is no room. Nothing is decided before a quiet period after the last
    /// settlement, when the broker has had the chance to send the next returns.
    @Test func aFullPrefetchIsNoSignThatTheReturnsAreAllTaken() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0) == .start)
        handOver.settled(at: Self.t0 + .seconds(2))
        let quietEnds = Self.t0 + .seconds(2) + .milliseconds(250)
        #expect(handOver.next(tags: ["p1"], at: Self.t0 + .seconds(2), quiet: .milliseconds(250)) == .wait(until: quietEnds))
        #expect(handOver.next(tags: ["p1"], at: quietEnds, quiet: .milliseconds(250)) == .ask(["p1"]))
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
        #expect(handOver.next(tags: ["p1"], at: Self.t0 + .seconds(1)) == .close, "every queue showed a fresh delivery: at once")
    }

    /// Silence is not proof (a loaded broker took over 250 ms to send the next returns in a CI
    /// run): after a quiet period the channel asks the broker, and waits while returns are ready.
    @Test func afterAQuietPeriodTheBrokerIsAskedAndReadyReturnsAreWaitedFor() {
        var handOver = HandOver<String>()
        let quiet = Duration.milliseconds(250)
        handOver.letGo(at: Self.t0)
        #expect(handOver.next(tags: ["p1", "p3"], at: Self.t0, quiet: quiet) == .wait(until: Self.t0 + quiet))
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0 + .milliseconds(200)) == .start)
        #expect(handOver.next(tags: ["p1", "p3"], at: Self.t0 + .milliseconds(250), quiet: quiet) == .wait(until: Self.t0 + .milliseconds(450)))
        #expect(handOver.delivered(tag: "p1", redelivered: false, at: Self.t0 + .milliseconds(300)) == .hold)
        #expect(handOver.next(tags: ["p1", "p3"], at: Self.t0 + .milliseconds(450), quiet: quiet) == .ask(["p3"]), "p1 proven by a fresh one")
        handOver.reported(ready: ["p3": 12], at: Self.t0 + .milliseconds(450))
        #expect(
            handOver.next(tags: ["p1", "p3"], at: Self.t0 + .milliseconds(600), quiet: quiet) == .wait(until: Self.t0 + .milliseconds(700)),
            "12 ready: asked again a quiet period later")
        #expect(handOver.next(tags: ["p1", "p3"], at: Self.t0 + .milliseconds(700), quiet: quiet) == .ask(["p3"]))
        handOver.reported(ready: ["p3": 0], at: Self.t0 + .milliseconds(700))
        #expect(handOver.next(tags: ["p1", "p3"], at: Self.t0 + .milliseconds(700), quiet: quiet) == .close, "nothing left at the broker")
    }

    @Test func aReturnAfterTheBrokerSaidNothingWasReadyMakesItAskAgain() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        handOver.reported(ready: ["p1": 0], at: Self.t0 + .milliseconds(250))
        #expect(handOver.next(tags: ["p1"], at: Self.t0 + .milliseconds(260)) == .close)
        #expect(handOver.delivered(tag: "p1", redelivered: true, at: Self.t0 + .milliseconds(300)) == .start, "it was on its way")
        #expect(handOver.next(tags: ["p1"], at: Self.t0 + .milliseconds(300)) == .wait(until: Self.t0 + .milliseconds(550)))
    }

    /// Ready messages the broker does not send: another consumer is the active one (a queue this
    /// channel never received from), or a higher-priority one waits for this one (RabbitMQ 4.x).
    @Test func readyMessagesTheBrokerDoesNotSendAreWaitedForOnlyUpToTheStall() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        #expect(handOver.delivered(tag: "mine", redelivered: true, at: Self.t0) == .start)
        handOver.settled(at: Self.t0 + .milliseconds(100))
        let progress = Self.t0 + .milliseconds(100)
        func next(_ after: Duration) -> HandOver<String>.Step? {
            handOver.next(tags: ["mine", "other"], at: progress + after, stall: .seconds(5), stallNeverDelivered: .seconds(1))
        }
        #expect(next(.milliseconds(250)) == .ask(["mine", "other"]))
        handOver.reported(ready: ["mine": 3, "other": 40], at: progress + .milliseconds(250))
        #expect(next(.milliseconds(500)) == .ask(["mine", "other"]))
        handOver.reported(ready: ["mine": 3, "other": 40], at: progress + .milliseconds(500))
        #expect(next(.seconds(1)) == .ask(["mine"]), "never received from: not waited for past a second")
        handOver.reported(ready: ["mine": 3], at: progress + .seconds(1))
        #expect(next(.seconds(4)) == .ask(["mine"]))
        handOver.reported(ready: ["mine": 3], at: progress + .seconds(4))
        #expect(next(.seconds(5)) == .close, "five seconds without a delivery though three are ready")
    }

    @Test func aQueueTheBrokerDidNotAnswerForStaysUnproven() {
        var handOver = HandOver<String>()
        handOver.letGo(at: Self.t0)
        handOver.reported(ready: [:], at: Self.t0 + .milliseconds(250))
        #expect(handOver.next(tags: ["p1"], at: Self.t0 + .milliseconds(500)) == .ask(["p1"]))
    }

    /// The broker's behaviour (`SingleActiveOrderTests`) played against the rule, in virtual time:
    /// consumers take what their prefetch allows, in the broker's order, each delivery arriving
    /// up to `maxDelay` after the broker sent it (a loaded broker); each consumer lets go after a
    /// few deliveries, and its close returns what it held behind the returns not yet taken. The
    /// order in which messages are first started must be the queue's order. With `maxDelay` above
    /// the quiet period, silence alone (the rule before the broker was asked) reorders.
    @Test(arguments: 0..<20, [Duration.milliseconds(50), .milliseconds(1500)])
    func aChainOfHandOversStartsEveryMessageInQueueOrder(seed: Int, maxDelay: Duration) {
        let maxDelayMicroseconds = Int(maxDelay / .microseconds(1))
        var generator = SplitMix64(state: UInt64(seed))
        var returns: [Int] = []  // returned, not yet taken: delivered first
        var fresh = Array(0..<300)
        var started: [Int] = []
        var startedSet = Set<Int>()
        var clock = Self.t0
        func firstStart(_ message: Int) {
            if startedSet.insert(message).inserted { started.append(message) }
        }
        for _ in 0..<12 {
            var handOver = HandOver<String>()
            let prefetch = Int.random(in: 5...40, using: &generator)
            let letGoAfter = Int.random(in: 0...30, using: &generator)
            if letGoAfter == 0 { handOver.letGo(at: clock) }
            var held: [Int] = []
            var inFlight: [(message: Int, endsAt: ContinuousClock.Instant)] = []
            var transit: [(message: Int, redelivered: Bool, arrivesAt: ContinuousClock.Instant)] = []
            var deliveredCount = 0
            while true {
                var waitUntil: ContinuousClock.Instant?
                // The broker sends while the prefetch has room: returns first.
                while held.count + inFlight.count + transit.count < prefetch, !(returns.isEmpty && fresh.isEmpty) {
                    let redelivered = !returns.isEmpty
                    let message = redelivered ? returns.removeFirst() : fresh.removeFirst()
                    let delay = Duration.microseconds(Int.random(in: 1_000...maxDelayMicroseconds, using: &generator))
                    let arrivesAt = max(transit.last?.arrivesAt ?? clock, clock + delay)
                    transit.append((message, redelivered, arrivesAt))
                }
                if handOver.isLettingGo, inFlight.isEmpty {
                    var step = handOver.next(tags: ["p"], at: clock)
                    if case .ask = step {
                        handOver.reported(ready: ["p": returns.count + fresh.count], at: clock)
                        step = handOver.next(tags: ["p"], at: clock)
                    }
                    if step == .close { break }
                    if case .wait(let until) = step { waitUntil = until }
                }
                // The next event: an arrival, a command's end, or the hand-over's next look.
                let events = [transit.first?.arrivesAt, inFlight.map(\.endsAt).min(), waitUntil].compactMap { $0 }
                guard let now = events.min() else { break }
                clock = max(clock, now)
                if let arrival = transit.first, arrival.arrivesAt <= clock {
                    transit.removeFirst()
                    deliveredCount += 1
                    if deliveredCount == letGoAfter { handOver.letGo(at: clock) }
                    switch handOver.delivered(tag: "p", redelivered: arrival.redelivered, at: clock) {
                    case .start:
                        firstStart(arrival.message)
                        inFlight.append((arrival.message, clock + .milliseconds(300)))
                    case .hold:
                        held.append(arrival.message)
                    }
                } else if inFlight.contains(where: { $0.endsAt <= clock }) {
                    inFlight.removeAll { $0.endsAt <= clock }
                    handOver.settled(at: clock)
                }
                if returns.isEmpty, fresh.isEmpty, transit.isEmpty, inFlight.isEmpty, !handOver.isLettingGo { break }
            }
            // What was on its way arrives after the seal: held. The close returns what was held,
            // in order, behind the returns not yet taken.
            returns.append(contentsOf: (held + transit.map(\.message)).sorted())
            clock = clock + .seconds(1)
        }
        // A last consumer that never lets go takes the rest.
        for message in returns + fresh { firstStart(message) }
        #expect(started == Array(0..<300), "seed \(seed): first starts out of queue order")
    }
}
