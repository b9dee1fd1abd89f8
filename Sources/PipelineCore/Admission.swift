import WorkModeDomain

/// Who may send a request to OIFDE now (docs/contract.md sections 4 and 12), as pure bookkeeping:
/// the in-flight limit (fixed, or adaptive), the circuit breaker, tenants' rate limits, fair
/// shares across tenants, and live commands before batch ones. Every command asks before each
/// attempt and reports the attempt's end; the shell parks the ones this queues and wakes the ones
/// it grants, and calls `tick(at:)` at `nextWakeup` (an open breaker's end, a rate-limit token, a
/// waiting command's deadline). A wait whose deadline passes ends here too (``Changes/expired``):
/// the shell keeps no clock of its own.
///
/// The order of grants: live commands first, except that batch commands keep up to `batchShare`
/// of the running slots while both wait; within a class, tenants take turns (round-robin); within
/// a tenant, arrival order. A tenant out of rate-limit tokens is skipped without holding a slot.
public struct Admission<Ticket: Hashable & Sendable>: Sendable {
    /// The policies in force.
    public struct Settings: Sendable {
        /// `pipeline.maxInFlight`.
        public var maxInFlight: Int
        /// `pipeline.adaptive` on: the limit moves between these.
        public var adaptive: (minimum: Int, latencyTarget: Duration)?
        /// `breaker.*` with `breaker.enabled`; nil: no breaker.
        public var breaker: CircuitBreaker.Settings?
        /// Tenants' `rateLimit` (requests per second); absent or 0: none.
        public var rateLimits: [String: Double]
        /// `pipeline.batchShare`: the share of running slots batch commands keep while live ones wait.
        public var batchShare: Double

        /// The settings as given.
        public init(
            maxInFlight: Int, adaptive: (minimum: Int, latencyTarget: Duration)? = nil, breaker: CircuitBreaker.Settings? = nil,
            rateLimits: [String: Double] = [:], batchShare: Double = 0.5
        ) {
            self.maxInFlight = maxInFlight
            self.adaptive = adaptive
            self.breaker = breaker
            self.rateLimits = rateLimits
            self.batchShare = batchShare
        }
    }

    /// Permission for one request.
    public struct Grant: Sendable, Hashable {
        /// Whose.
        public var ticket: Ticket
        /// The half-open breaker's probe: its failure must not count against the command's attempts.
        public var probe: Bool
        /// When it was granted.
        public var at: Moment
        fileprivate var requester: Ticket
        fileprivate var requesterSince: Moment
        fileprivate var tenant: String
        fileprivate var batch: Bool
    }

    /// How an attempt ended, for the breaker and the adaptive limit.
    public enum Outcome: Sendable, Hashable {
        /// OIFDE answered (success, or a refusal that retrying would not change).
        case answered(latency: Duration)
        /// A retryable failure; `overloaded` for a 429, a 503 or a timeout.
        case failed(overloaded: Bool)
        /// Nothing reached OIFDE (no token, cancelled).
        case notSent
    }

    /// What the breaker and the adaptive limit learn from a changeWorkMode exchange: nothing from
    /// a request of ours that never reached OIFDE or was stopped by us (waiting for our own pool, a
    /// connection found closed, a cancellation), an answer from one that retrying would not change,
    /// and a failure from a retryable one: an overload for a 429, a 503 or a timeout.
    public static func learned(
        fromExchange transportError: AttemptResult.TransportError?, httpStatus: Int?, retryable: Bool, latency: Duration
    ) -> Outcome {
        if let transportError, Self.saysNothingAboutOIFDE(transportError) { return .notSent }
        guard retryable else { return .answered(latency: latency) }
        return .failed(overloaded: httpStatus == 429 || httpStatus == 503 || transportError == .timeout)
    }

    /// What they learn from a token failure: a retryable one is OIFDE failing (its gettoken), unless
    /// the request was ours to stop; any other is an answer.
    public static func learned(fromTokenFailure transportError: AttemptResult.TransportError?, retryable: Bool, latency: Duration) -> Outcome {
        if let transportError, Self.saysNothingAboutOIFDE(transportError) { return .notSent }
        return retryable ? .failed(overloaded: false) : .answered(latency: latency)
    }

    private static func saysNothingAboutOIFDE(_ error: AttemptResult.TransportError) -> Bool {
        switch error {
        case .noConnection, .closedBeforeSending, .cancelledBeforeSending, .cancelled: return true
        case .connect, .tls, .proxyRefused, .timeout, .connectionClosed, .badResponse: return false
        }
    }

    /// What a step changed besides grants, for log lines and metrics.
    public struct Changes: Sendable {
        /// Requests that may go now.
        public var grants: [Grant] = []
        /// Breaker transitions, in order.
        public var transitions: [CircuitBreaker.Transition] = []
        /// The new in-flight limit, when it moved.
        public var limit: Int?
        /// The finished request failed while the gateway knew OIFDE was failing: it went out
        /// half-open, the breaker was open once it was counted (this failure opened it, or others
        /// did while it was out), or the requests that ended just before it failed too, at least
        /// two of them other commands' since this command first asked (a run of failures with no
        /// success between, while this command was trying: not a run that ended before it began). Such a failure
        /// need not use up the command's attempts (``CommandAttempts/Report/duringOutage``). A
        /// command failing alone is never in an outage by this rule: its own failures are the
        /// only evidence, and `retry.maxAttempts` is what bounds them.
        public var failedDuringOutage = false
        /// Waiting requests whose deadline passed: taken out of line, never granted.
        public var expired: [Expiry] = []
    }

    /// A waiting request whose deadline passed.
    public struct Expiry: Sendable, Hashable {
        /// Whose.
        public var ticket: Ticket
        /// The breaker was not closed: the circuit is why it waited so long.
        public var circuitNotClosed: Bool

        /// An expiry as given.
        public init(ticket: Ticket, circuitNotClosed: Bool) {
            self.ticket = ticket
            self.circuitNotClosed = circuitNotClosed
        }
    }

    private struct Waiting: Sendable {
        var requester: Ticket
        var since: Moment
        var tenant: String
        var batch: Bool
        var deadline: Moment?
    }

    /// One class (live or batch): tenants with waiters, in turn order, each with its line.
    private struct ClassQueue: Sendable {
        var turns: [String] = []
        var cursor = 0
        var lines: [String: [Ticket]] = [:]
        var count = 0

        mutating func append(_ ticket: Ticket, tenant: String) {
            if lines[tenant] == nil { turns.append(tenant) }
            lines[tenant, default: []].append(ticket)
            count += 1
        }

        mutating func remove(_ ticket: Ticket, tenant: String) -> Bool {
            guard var line = lines[tenant], let index = line.firstIndex(of: ticket) else { return false }
            line.remove(at: index)
            count -= 1
            if line.isEmpty { dropTenant(tenant) } else { lines[tenant] = line }
            return true
        }

        private mutating func dropTenant(_ tenant: String) {
            lines.removeValue(forKey: tenant)
            guard let index = turns.firstIndex(of: tenant) else { return }
            turns.remove(at: index)
            if index < cursor { cursor -= 1 }
            if cursor >= turns.count { cursor = 0 }
        }

        /// The next tenant in turn whose head may go (has a rate token), without taking it.
        func nextEligible(_ eligible: (String) -> Bool) -> (index: Int, tenant: String)? {
            guard !turns.isEmpty else { return nil }
            for step in 0..<turns.count {
                let index = (cursor + step) % turns.count
                if eligible(turns[index]) { return (index, turns[index]) }
            }
            return nil
        }

        /// Takes the head of `tenant`'s line and passes the turn to the next tenant.
        mutating func take(at index: Int, tenant: String) -> Ticket? {
            guard var line = lines[tenant], !line.isEmpty else { return nil }
            let ticket = line.removeFirst()
            count -= 1
            if line.isEmpty {
                lines.removeValue(forKey: tenant)
                turns.remove(at: index)
                cursor = turns.isEmpty ? 0 : index % turns.count
            } else {
                lines[tenant] = line
                cursor = (index + 1) % turns.count
            }
            return ticket
        }
    }

    /// The settings in force.
    public let settings: Settings
    private var live = ClassQueue()
    private var batch = ClassQueue()
    private var waiting: [Ticket: Waiting] = [:]
    private var runningLive = 0
    private var runningBatch = 0
    private var breaker: CircuitBreaker?
    private var adaptive: AdaptiveLimit?
    private var buckets: [String: TokenBucket]
    /// Whose requests failed since the last success, and when: the latest few.
    private var failureRun: [(requester: Ticket, at: Moment)] = []
    /// Waiting requests' deadlines.
    private var deadlines = DeadlineHeap<Ticket>()
    private static var failureRunKept: Int { 32 }

    /// Nothing running, nothing waiting, the breaker closed.
    public init(settings: Settings) {
        self.settings = settings
        self.breaker = settings.breaker.map(CircuitBreaker.init(settings:))
        self.adaptive = settings.adaptive.map {
            AdaptiveLimit(minimum: $0.minimum, maximum: settings.maxInFlight, latencyTarget: $0.latencyTarget)
        }
        self.buckets = settings.rateLimits.filter { $0.value > 0 }.mapValues(TokenBucket.init(rate:))
    }

    /// The in-flight limit now.
    public var limit: Int { adaptive?.limit ?? settings.maxInFlight }
    /// Requests out now.
    public var inUse: Int { runningLive + runningBatch }
    /// Commands waiting for permission.
    public var waitingCount: Int { waiting.count }
    /// The breaker's state (closed when there is none).
    public var breakerState: CircuitBreaker.State { breaker?.state ?? .closed }

    /// When `tick(at:)` may change something a report will not: an open breaker's end, a waiting
    /// tenant's next rate-limit token, or a waiting request's deadline. Nil when nothing waits.
    public var nextWakeup: Moment? {
        guard !waiting.isEmpty else { return nil }
        var earliest = deadlines.earliest?.deadline
        if let reopens = breaker?.reopensAt { earliest = min(earliest ?? reopens, reopens) }
        // A token matters only with a slot free: a slot freed is a report, and grants then.
        guard inUse < limit, !buckets.isEmpty else { return earliest }
        for turns in [live.turns, batch.turns] {
            for tenant in turns {
                guard let bucket = buckets[tenant] else { continue }
                earliest = min(earliest ?? bucket.availableAt, bucket.availableAt)
            }
        }
        return earliest
    }

    /// Asks permission for one request of `ticket`. Granted at once (in the answer's grants) or
    /// queued until a report or a tick grants it. `requester` names the command when a command
    /// asks with a new ticket each time (nil: the ticket is the command); `since` is when that
    /// command first asked: only other commands' failures from then on tell it OIFDE is failing.
    /// Not granted by `deadline`, it ends in ``Changes/expired`` of the tick at or after it.
    public mutating func request(
        _ ticket: Ticket, for requester: Ticket? = nil, since: Moment? = nil, tenant: String, batch isBatch: Bool, deadline: Moment? = nil,
        at now: Moment
    ) -> Changes {
        precondition(waiting[ticket] == nil, "one request per ticket at a time")
        waiting[ticket] = Waiting(requester: requester ?? ticket, since: since ?? now, tenant: tenant, batch: isBatch, deadline: deadline)
        if isBatch { batch.append(ticket, tenant: tenant) } else { live.append(ticket, tenant: tenant) }
        var changes = Changes()
        pump(at: now, into: &changes)
        // Only a request that waits: granted at once (the steady state), it has no deadline to keep.
        if let deadline, waiting[ticket] != nil {
            deadlines.insert(deadline, ticket)
            // Requests granted later leave their entries behind: rebuilt before they dominate.
            if deadlines.count > 2 * waiting.count + 64 {
                deadlines.rebuild(from: waiting.compactMap { ticket, entry in entry.deadline.map { ($0, ticket) } })
            }
        }
        return changes
    }

    /// Takes a waiting `ticket` out of line (its deadline passed, or its task was cancelled).
    /// False when it was not waiting (already granted).
    public mutating func withdraw(_ ticket: Ticket) -> Bool {
        guard let entry = waiting.removeValue(forKey: ticket) else { return false }
        if entry.batch {
            _ = batch.remove(ticket, tenant: entry.tenant)
        } else {
            _ = live.remove(ticket, tenant: entry.tenant)
        }
        return true
    }

    /// The request `grant` allowed has ended.
    public mutating func finished(_ grant: Grant, _ outcome: Outcome, at now: Moment) -> Changes {
        if grant.batch { runningBatch -= 1 } else { runningLive -= 1 }
        var changes = Changes()
        let breakerResult: CircuitBreaker.Result
        let signal: AdaptiveLimit.Signal
        switch outcome {
        case .answered(let latency):
            breakerResult = .healthy
            signal = .answered(latency: latency)
        case .failed(let overloaded):
            breakerResult = .failed
            signal = overloaded ? .overloaded : .neutral
        case .notSent:
            breakerResult = .abandoned
            signal = .neutral
        }
        if let transition = breaker?.finished(breakerResult, probe: grant.probe, at: now) { changes.transitions.append(transition) }
        // Only with a breaker: without one, the gateway claims to know nothing of outages.
        var othersFailedJustBefore = false
        switch breakerResult {
        case _ where breaker == nil: break
        case .healthy: if !failureRun.isEmpty { failureRun.removeAll(keepingCapacity: true) }
        case .failed:
            othersFailedJustBefore = failureRun.count { $0.requester != grant.requester && $0.at >= grant.requesterSince } >= 2
            failureRun.append((grant.requester, now))
            if failureRun.count > Self.failureRunKept { failureRun.removeFirst() }
        case .abandoned: break
        }
        if breakerResult == .failed, let breaker, grant.probe || breaker.state != .closed || othersFailedJustBefore {
            changes.failedDuringOutage = true
        }
        if let limit = adaptive?.record(signal, startedAt: grant.at, at: now) { changes.limit = limit }
        pump(at: now, into: &changes)
        return changes
    }

    /// Time passed: ends the waits whose deadline passed, then grants what an ended open period or
    /// a new rate token allows.
    public mutating func tick(at now: Moment) -> Changes {
        var changes = Changes()
        while let (deadline, ticket) = deadlines.earliest, deadline <= now {
            deadlines.removeEarliest()
            // Granted or withdrawn since, or asking again with a later deadline: not this entry's.
            guard waiting[ticket]?.deadline == deadline, withdraw(ticket) else { continue }
            changes.expired.append(Expiry(ticket: ticket, circuitNotClosed: circuitNotClosed))
        }
        pump(at: now, into: &changes)
        return changes
    }

    /// True when the breaker is not closed: a deadline that passes while waiting now passed
    /// because of the circuit.
    public var circuitNotClosed: Bool { breakerState != .closed }

    private mutating func pump(at now: Moment, into changes: inout Changes) {
        while inUse < limit {
            let tokens = buckets
            let eligible: (String) -> Bool = { tokens[$0]?.hasToken(at: now) ?? true }
            let liveNext = live.nextEligible(eligible)
            let batchNext = batch.nextEligible(eligible)
            let takeBatch: Bool
            switch (liveNext, batchNext) {
            case (nil, nil): return
            case (_?, nil): takeBatch = false
            case (nil, _?): takeBatch = true
            case (_?, _?): takeBatch = Double(runningBatch) < settings.batchShare * Double(inUse + 1) - 0.5
            }
            var probe = false
            if var current = breaker {
                let (permission, transition) = current.permit(at: now)
                breaker = current
                if let transition { changes.transitions.append(transition) }
                switch permission {
                case .allowed: break
                case .probe: probe = true
                case .refused: return
                }
            }
            guard let (index, tenant) = takeBatch ? batchNext : liveNext,
                let ticket = takeBatch ? batch.take(at: index, tenant: tenant) : live.take(at: index, tenant: tenant)
            else { return }
            let entry = waiting.removeValue(forKey: ticket)
            buckets[tenant]?.take(at: now)
            if takeBatch { runningBatch += 1 } else { runningLive += 1 }
            changes.grants.append(
                Grant(
                    ticket: ticket, probe: probe, at: now, requester: entry?.requester ?? ticket, requesterSince: entry?.since ?? now,
                    tenant: tenant, batch: takeBatch))
        }
    }
}
