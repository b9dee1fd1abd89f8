import Foundation
import PipelineCore
import Testing
import WorkModeDomain

/// Many commands, each its own `CommandAttempts`, sharing one `Admission` with the breaker, driven
/// by a discrete-event loop in virtual time against an OIFDE that is down for a while, or flaps:
/// the section 12 scenarios without a broker, a clock or a sleep.
final class OutageSimulation {
    let t0 = Moment(seconds: 1_764_064_800)
    /// Whether OIFDE answers 503 this many seconds after the start.
    let isDown: (Double) -> Bool
    let requestTime: Double = 0.005
    /// Each request's time (nil: `requestTime`); OIFDE decides halfway through it.
    private let latency: ((inout SplitMix64) -> Double)?
    private(set) var now: Moment
    private var admission: Admission<Int>
    private var commands: [CommandAttempts]
    private var grants: [Int: Admission<Int>.Grant] = [:]
    private var waitingSince: [Int: Moment] = [:]
    private var events: [(at: Moment, sequence: Int, event: Event)] = []
    private var sequence = 0
    private var random: SplitMix64
    private(set) var endings: [Int: CommandAttempts.Ending] = [:]
    private(set) var requestsWhileDown = 0
    private(set) var requests = 0
    var failureLog: [Int: [String]] = [:]
    /// When each command first asked.
    private var started: [Int: Moment] = [:]
    private(set) var transitions: [CircuitBreaker.Transition] = []
    let deadline: CommandDeadline

    private let arrivals: Double?

    private enum Event {
        case answered(Int, ok: Bool)
        case waited(Int)
        case arrived(Int)
        case tick
    }

    /// OIFDE down for the first `outage` seconds.
    convenience init(
        commands count: Int, outage: Double, deadline seconds: Double, maxAttempts: Int, maxInFlight: Int = 256,
        initialBackoff: Duration = .milliseconds(200), seed: UInt64 = 42, latency: ((inout SplitMix64) -> Double)? = nil
    ) {
        self.init(
            commands: count, deadline: seconds, maxAttempts: maxAttempts, maxInFlight: maxInFlight, initialBackoff: initialBackoff, seed: seed,
            latency: latency
        ) { $0 < outage }
    }

    /// `arrivals`: commands start this many per second (nil: all at once).
    init(
        commands count: Int, deadline seconds: Double, maxAttempts: Int, arrivals: Double? = nil, maxInFlight: Int = 256,
        initialBackoff: Duration = .milliseconds(200), seed: UInt64 = 42, latency: ((inout SplitMix64) -> Double)? = nil,
        isDown: @escaping (Double) -> Bool
    ) {
        now = t0
        self.latency = latency
        random = SplitMix64(state: seed)
        self.isDown = isDown
        self.arrivals = arrivals
        let window = Duration.milliseconds(Int64(seconds * 1000))
        guard
            case .success(let deadline) = CommandDeadline.resolve(xDeadline: nil, timestampSeconds: nil, firstReceipt: t0.date, retryDeadline: window)
        else { preconditionFailure("a window alone always resolves") }
        // One deadline for all, from the start.
        self.deadline = deadline
        admission = Admission(
            settings: .init(
                maxInFlight: maxInFlight,
                breaker: .init(failureRate: 0.5, minimumRequests: 20, window: .seconds(10), openFor: .seconds(2), maxOpenFor: .seconds(60))))
        commands = (0..<count).map { _ in
            CommandAttempts(
                deadline: deadline, maxAttempts: maxAttempts, backoff: Backoff(initial: initialBackoff, maximum: .seconds(5)), journaled: false)
        }
    }

    func run() {
        for ticket in commands.indices {
            if let arrivals {
                schedule(t0.addingTimeInterval(Double(ticket) / arrivals), .arrived(ticket))
            } else {
                handle(ticket, commands[ticket].start(at: now))
            }
        }
        while !events.isEmpty {
            events.sort { ($0.at, $0.sequence) < ($1.at, $1.sequence) }
            let next = events.removeFirst()
            now = next.at
            switch next.event {
            case .answered(let ticket, let ok):
                guard let grant = grants.removeValue(forKey: ticket) else { continue }
                let changes = admission.finished(grant, ok ? .answered(latency: .milliseconds(5)) : .failed(overloaded: true), at: now)
                take(changes)
                if !ok {
                    failureLog[ticket, default: []].append(
                        "\(now.timeIntervalSince(t0)) \(grant.probe) \(changes.failedDuringOutage) \(admission.breakerState)")
                }
                let report =
                    ok
                    ? CommandAttempts.Report(verdict: .succeeded, sentRequest: true, summary: "HTTP 200", httpStatus: 200, probe: grant.probe)
                    : CommandAttempts.Report(
                        verdict: .retry(retryAfter: nil), sentRequest: true, summary: "HTTP 503", httpStatus: 503, probe: grant.probe,
                        duringOutage: changes.failedDuringOutage)
                handle(ticket, commands[ticket].attemptFinished(report, at: now, random: &random))
            case .arrived(let ticket):
                handle(ticket, commands[ticket].start(at: now))
            case .waited(let ticket):
                handle(ticket, commands[ticket].waited(at: now))
            case .tick:
                take(admission.tick(at: now))
            }
            // Like the shell's timer: awake at the next time the rules name (deadlines included).
            if !waitingSince.isEmpty, let next = admission.nextWakeup {
                let wake = max(next, now.addingTimeInterval(0.001))
                let nextTick = events.filter { if case .tick = $0.event { true } else { false } }.map(\.at).min()
                if nextTick.map({ wake < $0 }) ?? true { schedule(wake, .tick) }
            }
        }
    }

    private func schedule(_ at: Moment, _ event: Event) {
        sequence += 1
        events.append((at, sequence, event))
    }

    private func take(_ changes: Admission<Int>.Changes) {
        transitions += changes.transitions
        for expiry in changes.expired {
            waitingSince.removeValue(forKey: expiry.ticket)
            handle(expiry.ticket, commands[expiry.ticket].notAdmitted(circuitOpen: expiry.circuitNotClosed, at: now))
        }
        for grant in changes.grants {
            waitingSince.removeValue(forKey: grant.ticket)
            grants[grant.ticket] = grant
            handle(grant.ticket, commands[grant.ticket].admitted(probe: grant.probe, at: now))
        }
    }

    private func handle(_ ticket: Int, _ action: CommandAttempts.Action) {
        switch action {
        case .acquire:
            waitingSince[ticket] = now
            if started[ticket] == nil { started[ticket] = now }
            take(
                admission.request(
                    ticket, since: started[ticket], tenant: "t\(ticket % 3)", batch: false,
                    deadline: Moment(seconds: deadline.date.timeIntervalSince1970), at: now))
        case .attempt:
            requests += 1
            let time = latency?(&random) ?? requestTime
            let ok = !isDown(now.timeIntervalSince(t0) + time / 2)
            if !ok { requestsWhileDown += 1 }
            schedule(now.addingTimeInterval(time), .answered(ticket, ok: ok))
        case .wait(let delay):
            schedule(now.addingTimeInterval(delay.timeInterval), .waited(ticket))
        case .finish(let ending):
            endings[ticket] = ending
        case .recordStart:
            preconditionFailure("not journaled")
        case .releaseGrant:
            if let unused = grants.removeValue(forKey: ticket) { take(admission.finished(unused, .notSent, at: now)) }
            handle(ticket, commands[ticket].grantReleased())
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct OutageSimulationTests {
    /// The issue's scenario: 300 commands, a 15 s outage, 3 attempts, a 90 s deadline.
    @Test func anOutageShorterThanTheDeadlinesEndsWithEveryCommandSucceeding() {
        let simulation = OutageSimulation(commands: 300, outage: 15, deadline: 90, maxAttempts: 3)
        simulation.run()
        let statuses = Dictionary(grouping: simulation.endings.values, by: \.status).mapValues(\.count)
        #expect(statuses == [.succeeded: 300], "\(statuses)")
        let opened = simulation.transitions.filter { $0.to == .open }.count
        let probes = simulation.transitions.filter { $0.to == .halfOpen }.count
        #expect(opened >= 2 && probes >= 2)
        #expect(
            simulation.requestsWhileDown <= 20 + probes,
            "OIFDE saw \(simulation.requestsWhileDown) requests while down: at most minimumRequests + one probe per open period (\(probes))")
        #expect(simulation.transitions.last?.to == .closed)
    }

    /// The end-to-end test's settings (64 in flight, the harness's 50 ms backoff) on a loaded
    /// machine: most answers in milliseconds, one in five taking up to 4 s. A CI run of the
    /// end-to-end test once ended one command `failed` after three 503s.
    @Test(arguments: 0..<40 as Range<UInt64>)
    func anOutageWithSlowAndUnevenAnswersEndsWithEveryCommandSucceeding(seed: UInt64) {
        let simulation = OutageSimulation(
            commands: 300, outage: 15, deadline: 90, maxAttempts: 3, maxInFlight: 64, initialBackoff: .milliseconds(50), seed: seed
        ) { random in
            Double.random(in: 0..<1, using: &random) < 0.8
                ? Double.random(in: 0.001...0.05, using: &random) : Double.random(in: 0.5...4, using: &random)
        }
        simulation.run()
        let statuses = Dictionary(grouping: simulation.endings.values, by: \.status).mapValues(\.count)
        #expect(
            statuses == [.succeeded: 300],
            "\(statuses) \(simulation.endings.filter { $0.value.status != .succeeded }.map { simulation.failureLog[$0.key] ?? [] })")
    }

    /// Issue 27's flapping OIFDE: 503 for 2 s, fine for 2 s, for 40 s, with 3 attempts and a 90 s
    /// deadline; 1,000 commands either arrive at 25/s while it flaps (after 2 s of normal traffic),
    /// or wait as a backlog when it first fails. Failures in a row open the breaker within each down
    /// phase, failures the breaker already knew of do not use up attempts, and the ramp after each
    /// probe reopens it at the next down phase's first failure.
    @Test(arguments: [10.0, 25.0, 100.0, nil], [42, 7, 2026, 99, 123] as [UInt64])
    func aFlappingOIFDEEndsWithEveryCommandSucceedingAndBoundedRequests(arrivals: Double?, seed: UInt64) {
        // Arrivals over 40 s at most: one deadline (90 s from the start) serves them all.
        let count = arrivals.map { min(1000, Int($0 * 40)) } ?? 1000
        let simulation = OutageSimulation(commands: count, deadline: 90, maxAttempts: 3, arrivals: arrivals, seed: seed) { seconds in
            let phase = arrivals == nil ? seconds : seconds - 2
            return phase >= 0 && phase < 40 && Int(phase / 2) % 2 == 0
        }
        simulation.run()
        let statuses = Dictionary(grouping: simulation.endings.values, by: \.status).mapValues(\.count)
        #expect(
            statuses == [.succeeded: count],
            "\(statuses) \(simulation.endings.filter { $0.value.status != .succeeded }.map { simulation.failureLog[$0.key] ?? [] })")
        let opened = simulation.transitions.filter { $0.to == .open }.count
        let downPhases = arrivals == 25 ? 10 : 1
        #expect(opened >= downPhases, "opened in every down phase with traffic: \(opened)")
        // Each down phase costs at most minimumRequests requests in a row before the breaker opens,
        // plus a few that were out at that moment, plus one probe per open period.
        #expect(
            simulation.requestsWhileDown <= opened * (20 + 20),
            "OIFDE saw \(simulation.requestsWhileDown) requests while down, \(simulation.requests) in all, \(opened) openings")
        #expect(simulation.transitions.last?.to == .closed)
        print(
            "flapping, arrivals \(arrivals.map { "\($0)/s" } ?? "backlog"): \(simulation.requests) requests, \(simulation.requestsWhileDown) while down, \(opened) openings"
        )
    }

    /// Commands whose deadline passes while the breaker is open end `expired`, saying why, never
    /// `failed` for attempts they were not allowed to make.
    @Test func deadlinesThatPassWhileTheCircuitIsOpenEndExpiredNeverFailed() {
        let simulation = OutageSimulation(commands: 100, outage: 60, deadline: 5, maxAttempts: 3)
        simulation.run()
        #expect(simulation.endings.count == 100)
        #expect(simulation.endings.values.allSatisfy { $0.status == .expired }, "\(simulation.endings.values.map(\.status))")
        let circuit = simulation.endings.values.filter { $0.reason.contains("while the circuit to OIFDE was open") }.count
        #expect(circuit >= 80, "most waited on the open circuit: \(circuit)")
        #expect(simulation.requestsWhileDown <= 20 + 2)
    }
}
