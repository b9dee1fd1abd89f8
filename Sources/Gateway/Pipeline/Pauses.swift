import Logging
import Metrics
import Synchronization

/// Why the gateway has stopped taking new deliveries: the journal cannot be written, or the broker
/// refuses what the gateway publishes. Either would otherwise requeue commands in a hot loop until
/// the queue's delivery limit dead-lettered them as `poison`, some already applied by OIFDE.
///
/// Each command that meets the fault holds a pause while it retries with backoff; new deliveries
/// wait (unacked, so nothing is redelivered and nothing counts toward the delivery limit) until
/// the last holder succeeds. Logged once per change of state, shown by `/health/ready` and by the
/// gauge `wmg_pipeline_paused{cause}`.
final class Pauses: Sendable {
    enum Cause: String, CaseIterable, Sendable {
        case journal, publish

        var meaning: String {
            switch self {
            case .journal: return "the completion journal cannot be written"
            case .publish: return "the broker refuses result events or dead letters"
            }
        }

        var recovery: String {
            switch self {
            case .journal: return "the completion journal can be written again"
            case .publish: return "the broker takes result events again"
            }
        }
    }

    private struct Held {
        var holders = 0
        var detail = ""
    }

    private let held = Mutex<[Cause: Held]>([:])
    private let logger: Logger
    private let gauges: [Cause: Gauge]

    init(logger: Logger) {
        self.logger = logger
        var gauges: [Cause: Gauge] = [:]
        for cause in Cause.allCases {
            let gauge = Gauge(label: "wmg_pipeline_paused", dimensions: [("cause", cause.rawValue)])
            gauge.record(0)
            gauges[cause] = gauge
        }
        self.gauges = gauges
    }

    /// A command starts waiting out `cause`; `detail` says what failed (an errno text, a nack).
    func enter(_ cause: Cause, detail: String) {
        let first = held.withLock { state -> Bool in
            var entry = state[cause] ?? Held()
            entry.holders += 1
            entry.detail = detail
            state[cause] = entry
            return entry.holders == 1
        }
        guard first else { return }
        gauges[cause]?.record(1)
        logger.error(
            "pausing: \(cause.meaning); no new commands are taken until it works again",
            metadata: ["cause": "\(cause.rawValue)", "detail": "\(detail)"]
        )
    }

    /// A command stops waiting out `cause`: `recovered` when its retry went through.
    func leave(_ cause: Cause, recovered: Bool) {
        let last = held.withLock { state -> Bool in
            guard var entry = state[cause] else { return false }
            entry.holders -= 1
            state[cause] = entry.holders > 0 ? entry : nil
            return entry.holders <= 0
        }
        guard last else { return }
        gauges[cause]?.record(0)
        if recovered {
            logger.info("resuming: \(cause.recovery)", metadata: ["cause": "\(cause.rawValue)"])
        } else {
            logger.warning("no command waits on the fault any more; taking new commands to try again", metadata: ["cause": "\(cause.rawValue)"])
        }
    }

    /// Why new deliveries wait, or nil.
    var reason: String? {
        held.withLock { state in
            let reasons = Cause.allCases.compactMap { cause in state[cause].map { "\(cause.meaning): \($0.detail)" } }
            return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        }
    }

    var isPaused: Bool { held.withLock { !$0.isEmpty } }

    /// Waits while paused, polling (a pause lasts seconds or more) until `stop` says to give up.
    func waitWhilePaused(stop: () -> Bool) async {
        while isPaused, !stop() {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
