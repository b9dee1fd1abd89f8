import Foundation
import PipelineCore
import Testing
import WorkModeDomain

/// The core's pieces together, as the shell drives them, in virtual time with random events:
/// deliveries of several commands per call (`Drain`, `LaneBook`), attempts with retries
/// (`CommandAttempts`, `Admission` with the breaker), results and dead letters with random
/// confirms (`Settlement`), and a stop at a random moment (`Drain`). docs/contract.md section 4's
/// promises are checked on every run.
final class PipelineSimulation {
    private struct Command {
        let call: Int
        var attempts: CommandAttempts
        var grant: Admission<Int>.Grant?
        var settlement: Settlement?
        var owedAcked = Set<Int>()
        var owedCount = 0
        var ended: String?
        var requested = false
    }

    private enum Event {
        case deliver(Int)
        case answered(Int)
        case waited(Int)
        case confirm(Int, index: Int, acked: Bool)
        case resume(Int)
        case stop
        case tick
    }

    let t0 = Moment(seconds: 1_764_064_800)
    private(set) var now: Moment
    private var random: SplitMix64
    private var commands: [Command] = []
    private var lanes = LaneBook<Int>()
    private var admission: Admission<Int>
    private var drain = Drain<Int>()
    private var events: [(at: Moment, sequence: Int, event: Event)] = []
    private var sequence = 0
    private var inFlightCalls = Set<Int>()
    private(set) var stopDeadline: Moment?
    private(set) var lastSettle: Moment?
    private(set) var violations: [String] = []
    private(set) var requests = 0
    /// Every command's deadline (they share one window from t0).
    private let deadline: CommandDeadline

    init(seed: UInt64, commands count: Int, calls: Int) {
        now = t0
        random = SplitMix64(state: seed)
        admission = Admission(
            settings: .init(
                maxInFlight: Int(seed % 4) + 1,
                breaker: .init(failureRate: 0.5, minimumRequests: 5, window: .seconds(10), openFor: .seconds(1), maxOpenFor: .seconds(4))))
        if case .success(let resolved) = CommandDeadline.resolve(
            xDeadline: nil, timestampSeconds: nil, firstReceipt: t0.date, retryDeadline: .seconds(Int64(seed % 20) + 5))
        {
            self.deadline = resolved
        } else {
            preconditionFailure("a window alone always resolves")
        }
        for index in 0..<count {
            commands.append(
                Command(
                    call: index % calls,
                    attempts: CommandAttempts(
                        deadline: deadline, maxAttempts: 3, backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)), journaled: false)))
            schedule(after: Double(index) * 0.01, .deliver(index))
        }
        schedule(after: Double(random.next() % 3000) / 1000, .stop)
    }

    var endings: [String?] { commands.map(\.ended) }

    /// What the unsettled commands were doing, for a failure's message.
    var unsettled: String {
        commands.indices.filter { commands[$0].ended == nil }.prefix(3).map { index in
            "\(index) (call \(commands[index].call), delivered \(delivered.contains(index)), asked \(commands[index].requested), granted \(commands[index].grant != nil), settling \(commands[index].settlement != nil))"
        }.joined(separator: "; ")
    }

    func run() {
        var steps = 0
        while !events.isEmpty, steps < 100_000 {
            steps += 1
            events.sort { ($0.at, $0.sequence) < ($1.at, $1.sequence) }
            let next = events.removeFirst()
            now = next.at
            step(next.event)
        }
    }

    private func step(_ event: Event) {
        switch event {
        case .deliver(let index):
            // After the consumer's cancel the broker sends nothing more; what it had sent (the
            // first 50 ms) arrives and goes back untouched.
            if let stopped = stopDeadline?.addingTimeInterval(-2), now > stopped.addingTimeInterval(0.05) {
                commands[index].ended = "never delivered"
                return
            }
            guard drain.delivered(index, at: now) == .process else {
                end(index, "requeued untouched")
                return
            }
            delivered.insert(index)
            if lanes.join(index, lane: "call-\(commands[index].call)") { begin(index) }
        case .answered(let index):
            guard commands[index].ended == nil, let grant = commands[index].grant else { return }
            commands[index].grant = nil
            inFlightCalls.remove(commands[index].call)
            let roll = random.next() % 10
            let report: CommandAttempts.Report
            if roll < 6 {
                report = .init(verdict: .succeeded, sentRequest: true, summary: "HTTP 200", httpStatus: 200, probe: grant.probe)
                take(admission.finished(grant, .answered(latency: .milliseconds(20)), at: now))
            } else if roll < 9 {
                report = .init(verdict: .retry(retryAfter: nil), sentRequest: true, summary: "HTTP 503", httpStatus: 503, probe: grant.probe)
                take(admission.finished(grant, .failed(overloaded: true), at: now))
            } else {
                report = .init(verdict: .rejected(reason: "refused"), sentRequest: true, summary: "errorCode 10000002", probe: grant.probe)
                take(admission.finished(grant, .answered(latency: .milliseconds(20)), at: now))
            }
            handle(index, commands[index].attempts.attemptFinished(report, at: now, random: &random))
        case .waited(let index):
            guard commands[index].ended == nil else { return }
            handle(index, commands[index].attempts.waited(at: now))
        case .confirm(let index, let owed, let acked):
            guard commands[index].ended == nil, var settlement = commands[index].settlement else { return }
            if acked { commands[index].owedAcked.insert(owed) }
            let answer = settlement.confirmed(owed, acked ? .acked : .refused, random: &random)
            commands[index].settlement = settlement
            if let answer { settle(index, answer) }
        case .resume(let index):
            guard commands[index].ended == nil, var settlement = commands[index].settlement else { return }
            let answer = settlement.resumed()
            commands[index].settlement = settlement
            settle(index, answer)
        case .stop:
            let actions = drain.requested(at: now, timeout: .seconds(2))
            stopDeadline = now.addingTimeInterval(2)
            if actions.first != .cancelConsumer { violations.append("a stop cancels the consumer first") }
            if let deadline = drain.nextWakeup { schedule(at: deadline, .tick) }
        case .tick:
            take(admission.tick(at: now))
            // Commands waiting for admission past their deadline, as the shell's timer ends them.
            for index in commands.indices where commands[index].ended == nil && commands[index].requested {
                if deadline.hasPassed(at: now.date), admission.withdraw(index) {
                    commands[index].requested = false
                    handle(index, commands[index].attempts.notAdmitted(circuitOpen: admission.circuitNotClosed, at: now))
                }
            }
            if case .cutShort = drain.tick(at: now) {
                cut = true
                // Cancelled in flight: back to the queue without a result.
                for index in commands.indices where commands[index].ended == nil && drainHolds(index) {
                    if let grant = commands[index].grant { take(admission.finished(grant, .notSent, at: now)) }
                    commands[index].grant = nil
                    inFlightCalls.remove(commands[index].call)
                    if commands[index].requested { _ = admission.withdraw(index) }
                    end(index, "requeued at the drain deadline")
                }
            }
        }
        scheduleTick()
    }

    private var delivered = Set<Int>()
    /// The drain deadline cut what was left: nothing starts after it.
    private var cut = false

    private func drainHolds(_ index: Int) -> Bool { delivered.contains(index) }

    private var started = Set<Int>()

    private func begin(_ index: Int) {
        guard started.insert(index).inserted else {
            violations.append("command \(index) of call \(commands[index].call) started twice")
            return
        }
        // Per-call order: every earlier command of this call has ended before this one starts.
        for earlier in 0..<index where commands[earlier].call == commands[index].call && commands[earlier].ended == nil {
            violations.append("command \(index) started before \(earlier) of call \(commands[index].call) ended")
        }
        handle(index, commands[index].attempts.start(at: now))
    }

    private func handle(_ index: Int, _ action: CommandAttempts.Action) {
        switch action {
        case .acquire:
            commands[index].requested = true
            take(admission.request(index, tenant: "t\(commands[index].call % 2)", batch: index % 3 == 0, at: now))
        case .attempt:
            if inFlightCalls.contains(commands[index].call) { violations.append("two requests of call \(commands[index].call) at once") }
            inFlightCalls.insert(commands[index].call)
            requests += 1
            schedule(after: Double(random.next() % 50) / 1000, .answered(index))
        case .wait(let delay):
            schedule(after: delay.timeInterval, .waited(index))
        case .finish(let ending):
            // A result event, and a dead letter for anything but a success.
            commands[index].owedCount = ending.status == .succeeded ? 1 : 2
            var settlement = Settlement(owed: commands[index].owedCount)
            let first = settlement.start()
            commands[index].settlement = settlement
            settle(index, first)
        case .recordStart:
            violations.append("not journaled, yet asked to record a start")
        case .releaseGrant:
            if let unused = commands[index].grant {
                commands[index].grant = nil
                take(admission.finished(unused, .notSent, at: now))
            } else {
                violations.append("command \(index) gives back a slot it does not hold")
            }
            handle(index, commands[index].attempts.grantReleased())
        }
    }

    private func take(_ changes: Admission<Int>.Changes) {
        for grant in changes.grants {
            commands[grant.ticket].requested = false
            commands[grant.ticket].grant = grant
            handle(grant.ticket, commands[grant.ticket].attempts.admitted(probe: grant.probe, at: now))
        }
    }

    private func settle(_ index: Int, _ action: Settlement.Action) {
        switch action {
        case .publish(let indices):
            for owed in indices {
                schedule(after: Double(random.next() % 30) / 1000, .confirm(index, index: owed, acked: random.next() % 7 != 0))
            }
        case .pause(let wait):
            schedule(after: wait.delay / .seconds(1), .resume(index))
        case .ack:
            if commands[index].owedAcked != Set(0..<commands[index].owedCount) {
                violations.append("command \(index) acked with \(commands[index].owedAcked) of \(commands[index].owedCount) confirmed")
            }
            end(index, "acked")
        case .requeue:
            end(index, "requeued")
        }
    }

    private func end(_ index: Int, _ how: String) {
        if let ended = commands[index].ended {
            violations.append("command \(index) settled twice: \(ended), then \(how)")
            return
        }
        commands[index].ended = how
        lastSettle = now
        guard delivered.contains(index) else { return }
        if let next = lanes.leave(index, lane: "call-\(commands[index].call)"), !cut { begin(next) }
        _ = drain.finished(index)
    }

    private func scheduleTick() {
        guard let wake = [admission.nextWakeup, drain.nextWakeup].compactMap({ $0 }).min() ?? nextDeadline else { return }
        let at = max(wake, now.addingTimeInterval(0.01))
        if events.contains(where: { if case .tick = $0.event { $0.at <= at } else { false } }) { return }
        schedule(at: at, .tick)
    }

    private var nextDeadline: Moment? {
        commands.contains { $0.requested && $0.ended == nil } ? Moment(seconds: deadline.date.timeIntervalSince1970) : nil
    }

    private func schedule(after seconds: Double, _ event: Event) { schedule(at: now.addingTimeInterval(seconds), event) }

    private func schedule(at date: Moment, _ event: Event) {
        sequence += 1
        events.append((date, sequence, event))
    }
}

@Suite(.timeLimit(.minutes(10))) struct PipelineSimulationTests {
    /// Random runs: every delivery settled exactly once (acked after its confirms, or requeued),
    /// per-call order and one request per call at a time while retries and an open breaker happen,
    /// and a stop that ends by its drain deadline.
    @Test func randomRunsKeepSectionFourPromises() {
        var requests = 0
        for seed in UInt64(1)...UInt64(300) {
            let simulation = PipelineSimulation(seed: seed, commands: 40, calls: 7)
            simulation.run()
            #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations.prefix(3))")
            #expect(simulation.endings.allSatisfy { $0 != nil }, "seed \(seed): every delivery settled; not: \(simulation.unsettled)")
            if let deadline = simulation.stopDeadline, let last = simulation.lastSettle {
                #expect(last <= deadline.addingTimeInterval(0.011), "seed \(seed): the drain ended by its deadline")
            }
            requests += simulation.requests
        }
        #expect(requests > 1000, "the runs reached OIFDE: \(requests) requests")
    }
}
