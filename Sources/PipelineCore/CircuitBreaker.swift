import WorkModeDomain

/// The circuit breaker over OIFDE requests (docs/contract.md section 12), as pure bookkeeping: the
/// caller asks before each request and reports how it went, always with the time.
///
/// Closed, it opens when at least `failureRate` of the last `window`'s requests (and at least
/// `minimumRequests` of them) failed for a retryable reason, or when `minimumRequests` requests in
/// a row failed: an OIFDE that flaps (down 2 s, up 2 s) never fails half of a window that its up
/// phases filled with successes, and would otherwise use up commands' attempts in every down phase.
/// While closed it also holds back a request whose failure, together with the failures of every
/// request still out, would open it: on an idle gateway whose upstream has just gone down, OIFDE
/// then sees `minimumRequests` requests, not one per in-flight slot. Open, it refuses everything
/// until `openFor` has passed; then it is half-open and one probe goes out: its success closes
/// the breaker, its failure opens it again for twice as long, up to `maxOpenFor`. Closed after a
/// probe, it ramps: one more request may be out than have succeeded since the probe (1, 2, 3, …
/// at once, so the rate roughly doubles per round trip) until `minimumRequests` succeeded or a
/// `window` passed, and a failure on the way opens it again at once, for twice as long. The probe
/// and the ramp's requests are reported with `probe: true`.
public struct CircuitBreaker: Sendable {
    /// `breaker.*`.
    public struct Settings: Sendable, Hashable {
        /// Share of failed requests in the window that opens the breaker.
        public var failureRate: Double
        /// Requests the window must hold before the rate means anything.
        public var minimumRequests: Int
        /// How far back the window looks.
        public var window: Duration
        /// The first open period.
        public var openFor: Duration
        /// The longest open period.
        public var maxOpenFor: Duration

        /// The settings as given.
        public init(failureRate: Double, minimumRequests: Int, window: Duration, openFor: Duration, maxOpenFor: Duration) {
            self.failureRate = failureRate
            self.minimumRequests = minimumRequests
            self.window = window
            self.openFor = openFor
            self.maxOpenFor = maxOpenFor
        }
    }

    /// Where the breaker is; `rawValue` is the `wmg_circuit_state` gauge.
    public enum State: Int, Sendable, Hashable {
        case closed = 0
        case halfOpen = 1
        case open = 2

        /// For log lines and `/health/ready`.
        public var name: String {
            switch self {
            case .closed: "closed"
            case .halfOpen: "half-open"
            case .open: "open"
            }
        }
    }

    /// The answer to "may a request go now?".
    public enum Permission: Sendable, Hashable {
        /// Yes; report its end with `probe: false`.
        case allowed
        /// Yes, as the half-open probe or within the ramp after it; report its end with `probe: true`.
        case probe
        /// Not now. `until` is when to ask again; nil means when a request still out has ended.
        case refused(until: Moment?)
    }

    /// How a request ended, for the breaker.
    public enum Result: Sendable, Hashable {
        /// OIFDE answered in a way that says it works (success, or a refusal that retrying would
        /// not change).
        case healthy
        /// A retryable failure: transport, timeout, 5xx, 408/429, retryable errorCodes.
        case failed
        /// The request never reached OIFDE (it was cancelled): says nothing either way.
        case abandoned
    }

    /// A change of state, for the log line and the metric.
    public struct Transition: Sendable, Hashable {
        /// The state before.
        public var from: State
        /// The state now.
        public var to: State
        /// When an opening ends (for `to == .open`).
        public var openUntil: Moment?
        /// One line: why.
        public var reason: String
    }

    /// The settings in force.
    public let settings: Settings
    /// The current state.
    public private(set) var state = State.closed
    private var samples: [(at: Moment, failed: Bool)] = []
    private var sampleHead = 0
    private var failuresInWindow = 0
    private var outstanding = 0
    private var openUntil = Moment.distantPast
    private var currentOpenFor: Duration
    private var consecutiveFailures = 0
    /// Closed after a probe's success, still ramping: requests out and successes since the probe,
    /// and when the probe succeeded (nil: not ramping).
    private var rampOut = 0
    private var rampSuccesses = 0
    private var rampSince: Moment?

    /// Closed, with an empty window.
    public init(settings: Settings) {
        self.settings = settings
        self.currentOpenFor = settings.openFor
    }

    /// When an open breaker lets its probe through; nil unless open.
    public var reopensAt: Moment? { state == .open ? openUntil : nil }

    /// Asks for one request at `now`. An allowed request must be reported with `finished`.
    public mutating func permit(at now: Moment) -> (Permission, Transition?) {
        switch state {
        case .open:
            guard now >= openUntil else { return (.refused(until: openUntil), nil) }
            state = .halfOpen
            outstanding += 1
            return (.probe, Transition(from: .open, to: .halfOpen, openUntil: nil, reason: "open for \(format(currentOpenFor)); probing"))
        case .halfOpen:
            return (.refused(until: nil), nil)
        case .closed:
            if rampSince != nil, !endRampIfDone(at: now) {
                guard rampOut < rampSuccesses + 1 else { return (.refused(until: nil), nil) }
                rampOut += 1
                outstanding += 1
                return (.probe, nil)
            }
            prune(at: now)
            if outstanding > 0, wouldOpen(failures: failuresInWindow + outstanding + 1, requests: windowCount + outstanding + 1) {
                return (.refused(until: nil), nil)
            }
            outstanding += 1
            return (.allowed, nil)
        }
    }

    /// Reports the end of a request `permit` allowed.
    public mutating func finished(_ result: Result, probe: Bool, at now: Moment) -> Transition? {
        outstanding = max(0, outstanding - 1)
        if probe {
            switch (state, result) {
            case (.halfOpen, .healthy):
                state = .closed
                samples.removeAll()
                sampleHead = 0
                failuresInWindow = 0
                consecutiveFailures = 0
                rampOut = 0
                rampSuccesses = 1
                rampSince = now
                return Transition(from: .halfOpen, to: .closed, openUntil: nil, reason: "the probe succeeded")
            case (.halfOpen, .failed):
                currentOpenFor = min(settings.maxOpenFor, currentOpenFor * 2)
                return open(at: now, from: .halfOpen, reason: "the probe failed")
            case (.closed, _) where rampSince != nil:
                rampOut = max(0, rampOut - 1)
                switch result {
                case .healthy:
                    rampSuccesses += 1
                    _ = endRampIfDone(at: now)
                    return nil
                case .failed:
                    currentOpenFor = min(settings.maxOpenFor, currentOpenFor * 2)
                    return open(at: now, from: .closed, reason: "a request failed after \(rampSuccesses) succeeded since the probe")
                case .abandoned:
                    return nil
                }
            default:
                // A request of an earlier ramp or probe that outlived it says nothing about now.
                return nil
            }
        }
        guard state == .closed, result != .abandoned else { return nil }
        prune(at: now)
        samples.append((now, result == .failed))
        if result == .failed {
            failuresInWindow += 1
            consecutiveFailures += 1
        } else {
            consecutiveFailures = 0
        }
        if wouldOpen(failures: failuresInWindow, requests: windowCount) {
            return open(
                at: now, from: .closed, reason: "\(failuresInWindow) of the last \(windowCount) requests failed within \(format(settings.window))")
        }
        if consecutiveFailures >= settings.minimumRequests {
            return open(at: now, from: .closed, reason: "\(consecutiveFailures) requests in a row failed")
        }
        return nil
    }

    /// True when the ramp after a probe is over: `minimumRequests` succeeded, or a `window` passed
    /// without a failure. Then the first open period applies again.
    private mutating func endRampIfDone(at now: Moment) -> Bool {
        guard let since = rampSince else { return true }
        guard rampSuccesses >= settings.minimumRequests || now >= since.addingTimeInterval(settings.window.timeInterval) else { return false }
        rampSince = nil
        currentOpenFor = settings.openFor
        return true
    }

    /// Still ramping after a probe's success: requests beyond the ramp's allowance wait.
    public var isRamping: Bool { state == .closed && rampSince != nil }

    private var windowCount: Int { samples.count - sampleHead }

    private func wouldOpen(failures: Int, requests: Int) -> Bool {
        requests >= settings.minimumRequests && Double(failures) >= settings.failureRate * Double(requests)
    }

    private mutating func open(at now: Moment, from: State, reason: String) -> Transition {
        state = .open
        consecutiveFailures = 0
        openUntil = now.addingTimeInterval(currentOpenFor.timeInterval)
        return Transition(from: from, to: .open, openUntil: openUntil, reason: reason)
    }

    private mutating func prune(at now: Moment) {
        let oldest = now.addingTimeInterval(-settings.window.timeInterval)
        while sampleHead < samples.count, samples[sampleHead].at < oldest {
            if samples[sampleHead].failed { failuresInWindow -= 1 }
            sampleHead += 1
        }
        if sampleHead > 1024, sampleHead * 2 > samples.count {
            samples.removeFirst(sampleHead)
            sampleHead = 0
        }
    }

    private func format(_ duration: Duration) -> String { DurationText.format(duration) }
}
