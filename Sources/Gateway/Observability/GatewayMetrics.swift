import Foundation
import Metrics
import PipelineCore
import WorkModeDomain

/// The daemon's metrics, through swift-metrics (the executable bootstraps the Prometheus backend).
/// Every name starts with `wmg_`; labels are bounded sets (status, class, outcome), never a call
/// or message ID.
struct GatewayMetrics: Sendable {
    let received = Counter(label: "wmg_commands_received_total")
    let republished = Counter(label: "wmg_commands_republished_total")
    let attempts = Counter(label: "wmg_oifde_attempts_total")
    let retries = Counter(label: "wmg_command_retries_total")
    let reconnects = Counter(label: "wmg_broker_reconnects_total")
    let commandDuration = Timer(label: "wmg_command_duration_seconds")
    let inFlight = Gauge(label: "wmg_commands_in_flight")
    let lanesWaiting = Gauge(label: "wmg_lanes_waiting")
    let brokerConnected = Gauge(label: "wmg_broker_connected")
    let confirmsPending = Gauge(label: "wmg_publish_confirms_pending")
    let oldestInFlightAge = Gauge(label: "wmg_oldest_in_flight_age_seconds")
    let ready = Gauge(label: "wmg_ready")
    /// 0 closed, 1 half-open, 2 open (docs/contract.md section 12).
    private let circuitState = Gauge(label: "wmg_circuit_state")
    /// The same state one series per state (1 for the current one), which PromQL selects by label
    /// (`wmg_circuit_status{state="open"} == 1`) without knowing the numbering.
    private let circuitStatus: [(CircuitBreaker.State, Gauge)] = [CircuitBreaker.State.closed, .halfOpen, .open].map {
        ($0, Gauge(label: "wmg_circuit_status", dimensions: [("state", $0.name)]))
    }
    /// The in-flight limit in force (moves under `pipeline.adaptive`).
    let concurrencyLimit = Gauge(label: "wmg_concurrency_limit")
    /// Commands waiting for permission to send (a slot, the breaker, a tenant's rate).
    let admissionWaiting = Gauge(label: "wmg_admission_waiting")
    /// From publishing a result event or dead letter to the broker's confirm.
    private let confirmLatency = Timer(label: "wmg_publish_confirm_seconds")
    let journalBytes = Gauge(label: "wmg_journal_bytes")
    let journalRecords = Gauge(label: "wmg_journal_records")
    let journalEntries = Gauge(label: "wmg_journal_entries")
    let journalCompactions = Gauge(label: "wmg_journal_compactions")
    let journalVolumeSize = Gauge(label: "wmg_journal_volume_size_bytes")
    let journalVolumeFree = Gauge(label: "wmg_journal_volume_free_bytes")
    let connectionsInUse = Gauge(label: "wmg_oifde_connections", dimensions: [("state", "in_use")])
    let connectionsIdle = Gauge(label: "wmg_oifde_connections", dimensions: [("state", "idle")])
    let connectionWaiters = Gauge(label: "wmg_oifde_connection_waiters")

    private let outcomes: [CommandStatus: Counter]
    private let deadLetters: [String: Counter]
    private let requestDurations: [String: Timer]

    static let requestOutcomes = ["succeeded", "rejected", "retryable", "token_refused"]

    init() {
        var outcomes: [CommandStatus: Counter] = [:]
        var deadLetters: [String: Counter] = [:]
        for status in CommandStatus.allCases {
            outcomes[status] = Counter(label: "wmg_command_outcomes_total", dimensions: [("status", status.rawValue)])
            if let failureClass = status.deadLetterClass {
                deadLetters[failureClass.rawValue] = Counter(label: "wmg_dead_letters_total", dimensions: [("class", failureClass.rawValue)])
            }
        }
        self.outcomes = outcomes
        self.deadLetters = deadLetters
        var durations: [String: Timer] = [:]
        for outcome in Self.requestOutcomes {
            durations[outcome] = Timer(label: "wmg_oifde_request_duration_seconds", dimensions: [("outcome", outcome)])
        }
        requestDurations = durations
    }

    func circuit(_ state: CircuitBreaker.State) {
        circuitState.record(state.rawValue)
        for (candidate, gauge) in circuitStatus { gauge.record(candidate == state ? 1 : 0) }
    }

    func confirmed(after duration: Duration) { confirmLatency.recordNanoseconds(Self.nanoseconds(duration)) }

    func outcome(_ status: CommandStatus) { outcomes[status]?.increment() }

    func deadLettered(_ failureClass: String) { deadLetters[failureClass]?.increment() }

    /// One HTTP exchange with OIFDE (an attempt that never sent a request is not one).
    func request(_ verdict: AttemptVerdict, duration: Duration) {
        let outcome: String
        switch verdict {
        case .succeeded: outcome = "succeeded"
        case .rejected: outcome = "rejected"
        case .retry: outcome = "retryable"
        case .refreshTokenAndRetry: outcome = "token_refused"
        }
        requestDurations[outcome]?.recordNanoseconds(Self.nanoseconds(duration))
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension Timer {
    /// Records the time from `start` (a wall-clock receipt time) until now.
    func recordInterval(since start: Date) {
        recordNanoseconds(Int64(max(0, Date().timeIntervalSince(start)) * 1e9))
    }
}
