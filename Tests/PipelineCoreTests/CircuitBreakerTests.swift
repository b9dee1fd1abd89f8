import Foundation
import PipelineCore
import Testing

/// The breaker and the adaptive limit of docs/contract.md section 12, in virtual time.
@Suite(.timeLimit(.minutes(10))) struct CircuitBreakerTests {
    static let t0 = Moment(seconds: 1_764_064_800)
    static let settings = CircuitBreaker.Settings(
        failureRate: 0.5, minimumRequests: 20, window: .seconds(10), openFor: .seconds(2), maxOpenFor: .seconds(60))

    @Test func onAnIdleGatewayAnOutageCostsOIFDEOnlyTheMinimumRequests() {
        var breaker = CircuitBreaker(settings: Self.settings)
        var allowed = 0
        // 256 commands ask at once; each allowed request fails a little later.
        var out = 0
        for _ in 0..<256 {
            if case (.allowed, _) = breaker.permit(at: Self.t0) {
                allowed += 1
                out += 1
            }
        }
        #expect(allowed == 19, "held back while 19 unanswered requests could already open it: \(allowed)")
        var transition: CircuitBreaker.Transition?
        for _ in 0..<out { transition = breaker.finished(.failed, probe: false, at: Self.t0) ?? transition }
        #expect(transition == nil, "19 is below minimumRequests")
        guard case (.allowed, _) = breaker.permit(at: Self.t0) else {
            Issue.record("with nothing out, the 20th goes")
            return
        }
        let opened = breaker.finished(.failed, probe: false, at: Self.t0)
        #expect(opened?.to == .open && breaker.state == .open)
        #expect(opened?.reason == "20 of the last 20 requests failed within 10s", "\(String(describing: opened?.reason))")
    }

    @Test func aHealthyWindowLetsConcurrencyGrow() {
        var breaker = CircuitBreaker(settings: Self.settings)
        for _ in 0..<200 {
            _ = breaker.permit(at: Self.t0)
            _ = breaker.finished(.healthy, probe: false, at: Self.t0)
        }
        var allowed = 0
        for _ in 0..<256 { if case (.allowed, _) = breaker.permit(at: Self.t0) { allowed += 1 } }
        #expect(allowed == 199, "as many unanswered as the window's successes can outvote: \(allowed)")
    }

    @Test func oneProbeAfterOpenForThenClosedOrOpenTwiceAsLong() {
        var breaker = CircuitBreaker(settings: Self.settings)
        for _ in 0..<20 {
            _ = breaker.permit(at: Self.t0)
            _ = breaker.finished(.failed, probe: false, at: Self.t0)
        }
        #expect(breaker.permit(at: Self.t0.addingTimeInterval(1.9)).0 == .refused(until: Self.t0.addingTimeInterval(2)))
        var now = Self.t0.addingTimeInterval(2)
        var openFor: [Double] = []
        for _ in 0..<8 {
            let (permission, transition) = breaker.permit(at: now)
            #expect(permission == .probe && transition?.to == .halfOpen)
            #expect(breaker.permit(at: now).0 == .refused(until: nil), "one probe at a time")
            let reopened = breaker.finished(.failed, probe: true, at: now)
            guard let until = reopened?.openUntil else {
                Issue.record("a failed probe opens it again")
                return
            }
            openFor.append(until.timeIntervalSince(now))
            now = until
        }
        #expect(openFor == [4, 8, 16, 32, 60, 60, 60, 60], "doubling to maxOpenFor: \(openFor)")
        _ = breaker.permit(at: now)
        let closed = breaker.finished(.healthy, probe: true, at: now)
        #expect(closed?.to == .closed && breaker.state == .closed)
        #expect(closed?.reason == "the probe succeeded")
        // The ramp after it: 19 more successes end it.
        for _ in 1..<20 {
            #expect(breaker.isRamping)
            #expect(breaker.permit(at: now).0 == .probe)
            _ = breaker.finished(.healthy, probe: true, at: now)
        }
        #expect(!breaker.isRamping)
        // Closed again with an empty window and the first open period.
        for _ in 0..<20 {
            _ = breaker.permit(at: now)
            _ = breaker.finished(.failed, probe: false, at: now)
        }
        #expect(breaker.reopensAt == now.addingTimeInterval(2))
    }

    @Test func failuresOlderThanTheWindowDoNotCount() {
        var breaker = CircuitBreaker(settings: Self.settings)
        for _ in 0..<15 {
            _ = breaker.permit(at: Self.t0)
            _ = breaker.finished(.failed, probe: false, at: Self.t0)
        }
        let later = Self.t0.addingTimeInterval(11)
        // One success between, or the failures in a row would open it on their own.
        _ = breaker.permit(at: later)
        _ = breaker.finished(.healthy, probe: false, at: later)
        for _ in 0..<10 {
            _ = breaker.permit(at: later)
            _ = breaker.finished(.failed, probe: false, at: later)
        }
        #expect(breaker.state == .closed, "25 failures, but only 10 (of 11) within the last 10 s: under minimumRequests")
        for _ in 0..<10 {
            _ = breaker.permit(at: later)
            _ = breaker.finished(.failed, probe: false, at: later)
        }
        #expect(breaker.state == .open)
    }

    /// The probe's success closes it; then one more request may be out than have succeeded since
    /// (1, 2, 3, …); a failure on the way opens it again for twice as long; a window without failure
    /// ends the ramp even when traffic is too thin to reach minimumRequests.
    @Test func afterTheProbeTheBreakerRampsAndReopensAtTheFirstFailure() {
        var breaker = CircuitBreaker(settings: Self.settings)
        for _ in 0..<20 {
            _ = breaker.permit(at: Self.t0)
            _ = breaker.finished(.failed, probe: false, at: Self.t0)
        }
        var now = Self.t0.addingTimeInterval(2)
        #expect(breaker.permit(at: now).0 == .probe)
        #expect(breaker.finished(.healthy, probe: true, at: now)?.to == .closed, "the probe's success closes it")
        var allowed = 0
        while case (.probe, _) = breaker.permit(at: now) { allowed += 1 }
        #expect(allowed == 2, "one success: two may be out")
        _ = breaker.finished(.healthy, probe: true, at: now)
        _ = breaker.finished(.healthy, probe: true, at: now)
        allowed = 0
        while case (.probe, _) = breaker.permit(at: now) { allowed += 1 }
        #expect(allowed == 4, "three successes, none out: four may be out")
        let reopened = breaker.finished(.failed, probe: true, at: now)
        #expect(reopened?.to == .open && reopened?.from == .closed && reopened?.openUntil == now.addingTimeInterval(4))
        #expect(reopened?.reason == "a request failed after 3 succeeded since the probe")
        // The ramp's other requests end while it is open again: they change nothing.
        for _ in 0..<3 { #expect(breaker.finished(.healthy, probe: true, at: now) == nil) }
        #expect(breaker.state == .open)

        now = now.addingTimeInterval(4)
        #expect(breaker.permit(at: now).0 == .probe)
        _ = breaker.finished(.healthy, probe: true, at: now)
        #expect(breaker.isRamping)
        // Thin traffic: a window without failure ends the ramp, and requests flow without a cap.
        let thin = now.addingTimeInterval(10)
        #expect(breaker.permit(at: thin).0 == .allowed && !breaker.isRamping)
        #expect(breaker.permit(at: thin).0 == .allowed)
    }

    /// A flapping OIFDE never fails half of a window its up phases filled with successes; failures
    /// in a row open the breaker all the same.
    @Test func minimumRequestsFailuresInARowOpenItWhateverTheWindowHolds() {
        var breaker = CircuitBreaker(settings: Self.settings)
        for _ in 0..<500 {
            _ = breaker.permit(at: Self.t0)
            _ = breaker.finished(.healthy, probe: false, at: Self.t0)
        }
        var opened: CircuitBreaker.Transition?
        for index in 0..<20 {
            _ = breaker.permit(at: Self.t0)
            opened = breaker.finished(.failed, probe: false, at: Self.t0)
            if index < 19 { #expect(opened == nil) }
        }
        #expect(opened?.to == .open && opened?.reason == "20 requests in a row failed")
        // Failures with successes between never add up to a run.
        var mixed = CircuitBreaker(settings: Self.settings)
        for index in 0..<400 {
            _ = mixed.permit(at: Self.t0)
            _ = mixed.finished(index % 3 == 0 ? .healthy : .failed, probe: false, at: Self.t0)
            _ = mixed.permit(at: Self.t0)
            _ = mixed.finished(.healthy, probe: false, at: Self.t0)
        }
        #expect(mixed.state == .closed, "two of every six failed: under failureRate and never 20 in a row")
    }

    @Test func theAdaptiveLimitHalvesOnceAWaveAndStopsAtItsFloor() {
        var limit = AdaptiveLimit(minimum: 2, maximum: 10, latencyTarget: .milliseconds(100))
        #expect(limit.limit == 10)
        #expect(limit.record(.overloaded, startedAt: Self.t0, at: Self.t0.addingTimeInterval(1)) == 5)
        #expect(limit.record(.overloaded, startedAt: Self.t0, at: Self.t0.addingTimeInterval(1)) == nil, "same wave")
        #expect(limit.record(.overloaded, startedAt: Self.t0.addingTimeInterval(2), at: Self.t0.addingTimeInterval(2)) == 2)
        #expect(limit.record(.overloaded, startedAt: Self.t0.addingTimeInterval(3), at: Self.t0.addingTimeInterval(3)) == nil, "at the floor")
        #expect(limit.record(.neutral, startedAt: Self.t0.addingTimeInterval(4), at: Self.t0.addingTimeInterval(4)) == nil)
    }

    @Test func theAdaptiveLimitClimbsBackQuicklyThenProbesTheCeilingSlowly() {
        var limit = AdaptiveLimit(minimum: 2, maximum: 10, latencyTarget: .milliseconds(100))
        #expect(limit.record(.overloaded, startedAt: Self.t0, at: Self.t0) == 5, "the ceiling seen: 10")
        let fast = Duration.milliseconds(20)
        var grown: [Int] = []
        for _ in 0..<5 { if let new = limit.record(.answered(latency: fast), startedAt: Self.t0, at: Self.t0) { grown.append(new) } }
        #expect(grown == [6, 7, 8, 9], "under 90% of the ceiling a window is a quarter of the limit: \(grown)")
        for _ in 0..<89 { #expect(limit.record(.answered(latency: fast), startedAt: Self.t0, at: Self.t0) == nil) }
        #expect(
            limit.record(.answered(latency: fast), startedAt: Self.t0, at: Self.t0) == 10,
            "back to the level that overflowed: ten times the limit (90)")
        for _ in 0..<100 { #expect(limit.record(.answered(latency: fast), startedAt: Self.t0, at: Self.t0) == nil, "never past the maximum") }
        let later = Self.t0.addingTimeInterval(1)
        #expect(limit.record(.overloaded, startedAt: later, at: later) == 5)
        for _ in 0..<40 { _ = limit.record(.answered(latency: .milliseconds(300)), startedAt: later, at: later) }
        #expect(limit.limit == 5, "windows over the latency target do not grow it")
    }
}
