import Foundation
import PipelineCore
import Testing
import WorkModeDomain

/// Per-call lanes and in-flight slots, without tasks: the rules the shell's waits follow.
@Suite(.timeLimit(.minutes(10))) struct AdmissionTests {
    @Test func aLaneRunsItsCommandsOneAfterAnotherInJoinOrder() {
        var lanes = LaneBook<Int>()
        let joined = [lanes.join(1, lane: "t1/a"), lanes.join(2, lane: "t1/a"), lanes.join(3, lane: "t1/a"), lanes.join(4, lane: "t1/b")]
        #expect(joined == [true, false, false, true], "the head runs; another call runs in parallel")
        #expect(lanes.lanesWithWaiters == 1)
        // One that gave up waiting leaves without waking anyone; the head's leaving wakes the next.
        let woken = [lanes.leave(2, lane: "t1/a"), lanes.leave(1, lane: "t1/a"), lanes.leave(3, lane: "t1/a"), lanes.leave(4, lane: "t1/b")]
        #expect(woken == [nil, 3, nil, nil])
        #expect(lanes.count == 0 && lanes.lanesWithWaiters == 0)
        let again = lanes.leave(9, lane: "t1/a")
        #expect(again == nil, "leaving twice is harmless")
    }

    static let t0 = Moment(seconds: 1_764_064_800)

    static func tickets(_ changes: Admission<Int>.Changes) -> [Int] { changes.grants.map(\.ticket) }

    /// A waiting request's deadline is the core's to keep: `nextWakeup` names it, and the tick at
    /// or after it takes the request out of line, saying whether the circuit was why. The shell
    /// no longer polls its parked commands every 50 ms.
    @Test func aWaitEndsInTheTickAtItsDeadlineSayingWhetherTheCircuitWasWhy() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 1))
        let deadline = Self.t0.addingTimeInterval(5)
        let first = admission.request(1, tenant: "t1", batch: false, deadline: Self.t0.addingTimeInterval(1), at: Self.t0)
        #expect(Self.tickets(first) == [1])
        _ = admission.request(2, tenant: "t1", batch: false, deadline: deadline, at: Self.t0)
        _ = admission.request(3, tenant: "t1", batch: false, deadline: deadline.addingTimeInterval(10), at: Self.t0)
        #expect(admission.nextWakeup == deadline, "the granted request's own deadline is no reason to wake")
        #expect(admission.tick(at: deadline.addingTimeInterval(-0.001)).expired.isEmpty, "not before")
        let expired = admission.tick(at: deadline).expired
        #expect(expired == [.init(ticket: 2, circuitNotClosed: false)])
        let withdrawnAgain = admission.withdraw(2)
        #expect(admission.waitingCount == 1 && !withdrawnAgain, "out of line once")
        #expect(admission.nextWakeup == deadline.addingTimeInterval(10))
    }

    /// Random asks, grants, finishes and withdrawals: every tick expires exactly the waiting
    /// requests whose deadline passed, each once, whatever stale entries the granted ones left.
    @Test(arguments: 0..<20 as Range<UInt64>)
    func ticksExpireExactlyTheWaitsWhoseDeadlinePassed(seed: UInt64) {
        var random = SplitMix64(state: seed)
        var admission = Admission<Int>(settings: .init(maxInFlight: 4))
        var now = Self.t0
        var waiting: [Int: Moment] = [:]
        var granted: [Int: Admission<Int>.Grant] = [:]
        var next = 0
        func take(_ changes: Admission<Int>.Changes) {
            for grant in changes.grants {
                waiting.removeValue(forKey: grant.ticket)
                granted[grant.ticket] = grant
            }
        }
        for _ in 0..<2000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                next += 1
                let deadline = now.addingTimeInterval(Double.random(in: 0.01...3, using: &random))
                waiting[next] = deadline
                take(admission.request(next, tenant: "t\(next % 3)", batch: next % 4 == 0, deadline: deadline, at: now))
            case 4..<6:
                guard let ticket = granted.keys.randomElement(using: &random), let grant = granted.removeValue(forKey: ticket) else { continue }
                take(admission.finished(grant, .answered(latency: .milliseconds(5)), at: now))
            case 6:
                guard let ticket = waiting.keys.randomElement(using: &random) else { continue }
                let withdrawn = admission.withdraw(ticket)
                #expect(withdrawn)
                waiting.removeValue(forKey: ticket)
            default:
                now = now.addingTimeInterval(Double.random(in: 0...0.5, using: &random))
                let due = Set(waiting.filter { $0.value <= now }.keys)
                let changes = admission.tick(at: now)
                #expect(Set(changes.expired.map(\.ticket)) == due && changes.expired.count == due.count, "seed \(seed)")
                for ticket in due { waiting.removeValue(forKey: ticket) }
                take(changes)
                if let earliest = waiting.values.min() {
                    #expect(admission.nextWakeup.map { $0 <= earliest } == true, "a wake-up no later than the earliest deadline")
                }
            }
        }
        #expect(admission.waitingCount == waiting.count)
    }

    @Test func slotsAreGrantedUpToTheLimitThenInArrivalOrder() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 2))
        var grants: [Int: Admission<Int>.Grant] = [:]
        for ticket in 1...5 {
            for grant in admission.request(ticket, tenant: "t1", batch: false, at: Self.t0).grants { grants[grant.ticket] = grant }
        }
        #expect(Set(grants.keys) == [1, 2])
        #expect(admission.inUse == 2 && admission.waitingCount == 3)
        let withdrawn = [admission.withdraw(4), admission.withdraw(4)]
        #expect(withdrawn == [true, false], "a cancelled waiter leaves the line once")
        let grantedWithdrawn = admission.withdraw(1)
        #expect(!grantedWithdrawn, "a granted request cannot be withdrawn, only finished")
        var served: [Int] = []
        for ticket in [1, 2] {
            guard let grant = grants[ticket] else { continue }
            served += Self.tickets(admission.finished(grant, .answered(latency: .milliseconds(5)), at: Self.t0))
        }
        #expect(served == [3, 5], "the withdrawn one is skipped")
    }

    @Test func tenantsTakeTurnsSoABigBacklogDoesNotDelayASmallOne() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 1))
        var first = admission.request(0, tenant: "big", batch: false, at: Self.t0).grants
        for ticket in 1...100 { _ = admission.request(ticket, tenant: "big", batch: false, at: Self.t0) }
        for ticket in 1001...1003 { _ = admission.request(ticket, tenant: "small", batch: false, at: Self.t0) }
        var order: [Int] = []
        while let grant = first.first {
            order.append(grant.ticket)
            first = admission.finished(grant, .answered(latency: .milliseconds(1)), at: Self.t0).grants
        }
        #expect(order.count == 104)
        #expect(Array(order.prefix(8)) == [0, 1, 1001, 2, 1002, 3, 1003, 4], "round-robin across tenants: \(order.prefix(8))")
        #expect(order.filter { $0 < 1000 } == Array(0...100), "arrival order within a tenant")
    }

    @Test func liveCommandsGoFirstAndBatchKeepsItsShareWhileBothWait() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 4, batchShare: 0.5))
        var running: [Admission<Int>.Grant] = []
        // A batch fills every slot while no live command waits.
        for ticket in 1...10 { running += admission.request(ticket, tenant: "t1", batch: true, at: Self.t0).grants }
        #expect(running.map(\.ticket) == [1, 2, 3, 4])
        for ticket in 101...110 { running += admission.request(ticket, tenant: "t1", batch: false, at: Self.t0).grants }
        #expect(running.count == 4, "nothing preempted")
        var next: [Int] = []
        for _ in 0..<4 {
            let done = running.removeFirst()
            let granted = admission.finished(done, .answered(latency: .milliseconds(1)), at: Self.t0).grants
            running += granted
            next += granted.map(\.ticket)
        }
        #expect(next == [101, 102, 5, 6], "live takes freed slots until batch is down to its share (half of 4): \(next)")
    }

    @Test func aRateLimitedTenantWaitsWithoutHoldingSlotsOthersNeed() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 8, rateLimits: ["slow": 20]))
        var granted: [Int: Moment] = [:]
        var now = Self.t0
        for ticket in 1...10 {
            for grant in admission.request(ticket, tenant: "slow", batch: false, at: now).grants {
                granted[grant.ticket] = now
                _ = admission.finished(grant, .answered(latency: .zero), at: now)
            }
        }
        for ticket in 101...110 {
            for grant in admission.request(ticket, tenant: "fast", batch: false, at: now).grants {
                granted[grant.ticket] = now
                _ = admission.finished(grant, .answered(latency: .zero), at: now)
            }
        }
        #expect((101...110).allSatisfy { granted[$0] == Self.t0 }, "the other tenant is not held up")
        #expect(granted[1] == Self.t0 && granted[2] == nil)
        while let wake = admission.nextWakeup {
            now = wake
            for grant in admission.tick(at: now).grants {
                granted[grant.ticket] = now
                _ = admission.finished(grant, .answered(latency: .zero), at: now)
            }
        }
        let span = (granted[10] ?? .distantPast).timeIntervalSince(granted[1] ?? .distantFuture)
        #expect(abs(span - 9 / 20.0) < 0.001, "10 requests at 20/s span 0.45 s: \(span)")
        #expect(admission.inUse == 0 && admission.waitingCount == 0)
    }

    @Test func anAdaptiveLimitShrinksTheSlotsGranted() {
        var admission = Admission<Int>(settings: .init(maxInFlight: 8, adaptive: (minimum: 2, latencyTarget: .milliseconds(100))))
        var running: [Admission<Int>.Grant] = []
        for ticket in 1...20 { running += admission.request(ticket, tenant: "t1", batch: false, at: Self.t0).grants }
        #expect(running.count == 8)
        let later = Self.t0.addingTimeInterval(1)
        let changes = admission.finished(running.removeFirst(), .failed(overloaded: true), at: later)
        #expect(changes.limit == 4 && changes.grants.isEmpty, "halved; 7 still out, so nothing new")
        for grant in running { _ = admission.finished(grant, .failed(overloaded: true), at: later) }
        #expect(admission.limit == 4, "the requests out at the halving do not halve it again")
        #expect(admission.inUse == 4, "refilled up to the new limit only")
    }

    /// Random requests, withdrawals, finishes and ticks over tenants, classes and rate limits:
    /// requests out never pass the limit, each tenant's requests of a class are granted in
    /// arrival order, a withdrawn one is never granted, and everything is granted in the end.
    /// A failure is OIFDE's (it uses up no attempt) when the breaker is not closed or when at least
    /// two other commands' requests failed just before it with no success between; a command failing
    /// alone, asking with a new ticket each time, is never in an outage by this rule.
    @Test func failuresDuringAKnownOutageAreToldFromACommandFailingAlone() {
        let breaker = CircuitBreaker.Settings(
            failureRate: 0.5, minimumRequests: 20, window: .seconds(10), openFor: .seconds(2), maxOpenFor: .seconds(60))
        var admission = Admission<Int>(settings: .init(maxInFlight: 8, breaker: breaker))
        func fail(_ ticket: Int, command: Int, since: Moment = Self.t0, at now: Moment = Self.t0) -> Bool {
            guard let grant = admission.request(ticket, for: command, since: since, tenant: "t1", batch: false, at: now).grants.first else {
                Issue.record("granted at once")
                return false
            }
            return admission.finished(grant, .failed(overloaded: true), at: now).failedDuringOutage
        }
        // One command, five tickets: its own failures never make an outage.
        #expect((1...5).map { fail($0, command: 100) } == [false, false, false, false, false])
        // Two other commands fail next: the second sees one other failure, the third two.
        #expect(fail(6, command: 101) == true, "command 100's failures (five of them) came just before")
        let success = admission.request(7, for: 102, tenant: "t1", batch: false, at: Self.t0).grants[0]
        _ = admission.finished(success, .answered(latency: .milliseconds(5)), at: Self.t0)
        #expect(fail(8, command: 103) == false, "a success ends the run")
        #expect(fail(9, command: 104) == false, "one other failure before it")
        #expect(fail(10, command: 105) == true, "two other commands' failures before it")
        #expect(fail(11, command: 103) == true, "104 and 105 failed since 103's first failure")
        // Failures of commands that ended before this one began are no evidence: one command
        // failing for good after another is judged by its own attempts.
        let later = Self.t0.addingTimeInterval(5)
        #expect(fail(12, command: 106, since: later, at: later) == false, "the run's failures all came before 106 first asked")
        #expect(fail(13, command: 106, since: later, at: later.addingTimeInterval(1)) == false)
    }

    @Test func randomInterleavingsKeepLimitsAndOrder() {
        var random = SplitMix64(state: 99)
        for _ in 0..<200 {
            let limit = Int(random.next() % 4) + 1
            var admission = Admission<Int>(
                settings: .init(maxInFlight: limit, rateLimits: ["t2": 50], batchShare: Double(random.next() % 3) / 2))
            var now = Self.t0
            var out: [Admission<Int>.Grant] = []
            var lines: [String: [Int]] = [:]
            var withdrawn = Set<Int>()
            var granted = Set<Int>()
            var next = 0
            func take(_ changes: Admission<Int>.Changes) {
                for grant in changes.grants {
                    #expect(!withdrawn.contains(grant.ticket) && !granted.contains(grant.ticket))
                    granted.insert(grant.ticket)
                    out.append(grant)
                    let key = lines.first { $0.value.contains(grant.ticket) }?.key ?? "?"
                    #expect(lines[key]?.first == grant.ticket, "arrival order within \(key)")
                    lines[key]?.removeFirst()
                }
                #expect(out.count <= limit)
            }
            for _ in 0..<150 {
                now = now.addingTimeInterval(Double(random.next() % 20) / 1000)
                switch random.next() % 4 {
                case 0, 1:
                    next += 1
                    let tenant = "t\(random.next() % 3)"
                    let isBatch = random.next() % 2 == 0
                    lines[tenant + (isBatch ? "/batch" : "/live"), default: []].append(next)
                    take(admission.request(next, tenant: tenant, batch: isBatch, at: now))
                case 2:
                    guard let key = lines.keys.sorted().randomElement(using: &random), let last = lines[key]?.last else { continue }
                    let wasWaiting = admission.withdraw(last)
                    #expect(wasWaiting)
                    withdrawn.insert(last)
                    lines[key]?.removeLast()
                default:
                    guard !out.isEmpty else {
                        take(admission.tick(at: now))
                        continue
                    }
                    let done = out.remove(at: Int(random.next() % UInt64(out.count)))
                    take(admission.finished(done, .answered(latency: .milliseconds(1)), at: now))
                }
            }
            while !out.isEmpty || admission.waitingCount > 0 {
                now = max(now, admission.nextWakeup ?? now)
                if out.isEmpty { take(admission.tick(at: now)) } else { take(admission.finished(out.removeFirst(), .notSent, at: now)) }
            }
            let leftover = lines.values.reduce(0) { $0 + $1.count }
            #expect(leftover == 0, "everything waiting was granted in the end")
        }
    }

    /// What the breaker and the adaptive limit learn from an attempt (formerly decided in the
    /// shell): overloads, plain failures, answers, and what says nothing about OIFDE.
    @Test func whatAnAttemptTeachesTheBreakerAndTheLimit() {
        typealias A = Admission<Int>
        let latency = Duration.milliseconds(40)
        #expect(A.learned(fromExchange: nil, httpStatus: 200, retryable: false, latency: latency) == .answered(latency: latency))
        #expect(A.learned(fromExchange: nil, httpStatus: 400, retryable: false, latency: latency) == .answered(latency: latency))
        #expect(A.learned(fromExchange: nil, httpStatus: 429, retryable: true, latency: latency) == .failed(overloaded: true))
        #expect(A.learned(fromExchange: nil, httpStatus: 503, retryable: true, latency: latency) == .failed(overloaded: true))
        #expect(A.learned(fromExchange: .timeout, httpStatus: nil, retryable: true, latency: latency) == .failed(overloaded: true))
        #expect(A.learned(fromExchange: nil, httpStatus: 500, retryable: true, latency: latency) == .failed(overloaded: false))
        #expect(A.learned(fromExchange: .connect, httpStatus: nil, retryable: true, latency: latency) == .failed(overloaded: false))
        #expect(A.learned(fromExchange: .connectionClosed, httpStatus: nil, retryable: true, latency: latency) == .failed(overloaded: false))
        for ours in [AttemptResult.TransportError.noConnection, .closedBeforeSending, .cancelledBeforeSending, .cancelled] {
            #expect(A.learned(fromExchange: ours, httpStatus: nil, retryable: true, latency: latency) == .notSent, "\(ours)")
            #expect(A.learned(fromTokenFailure: ours, retryable: true, latency: latency) == .notSent, "\(ours)")
        }
        #expect(A.learned(fromTokenFailure: nil, retryable: true, latency: latency) == .failed(overloaded: false), "gettoken 5xx")
        #expect(A.learned(fromTokenFailure: .connect, retryable: true, latency: latency) == .failed(overloaded: false))
        #expect(A.learned(fromTokenFailure: nil, retryable: false, latency: latency) == .answered(latency: latency))
    }
}
