import Logging
import Metrics
import PipelineCore
import Synchronization

/// Carries out PipelineCore's ``Pauses``: one log line and the gauge `wmg_pipeline_paused{cause}`
/// per change of state, `/health/ready`'s reason, and new deliveries held back while paused.
final class PauseDriver: Sendable {
    private let pauses = Mutex(Pauses())
    private let logger: Logger
    private let gauges: [Pauses.Cause: Gauge]

    init(logger: Logger) {
        self.logger = logger
        var gauges: [Pauses.Cause: Gauge] = [:]
        for cause in Pauses.Cause.allCases {
            let gauge = Gauge(label: "wmg_pipeline_paused", dimensions: [("cause", cause.rawValue)])
            gauge.record(0)
            gauges[cause] = gauge
        }
        self.gauges = gauges
    }

    func hold(_ cause: Pauses.Cause, detail: String) {
        announce(pauses.withLock { $0.hold(cause, detail: detail) })
    }

    func release(_ release: FaultRetry.Release) {
        announce(pauses.withLock { $0.release(release) })
    }

    private func announce(_ change: Pauses.Change?) {
        switch change {
        case nil:
            return
        case .paused(let cause, let detail):
            gauges[cause]?.record(1)
            logger.error(
                "pausing: \(cause.meaning); no new commands are taken until it works again",
                metadata: ["cause": "\(cause.rawValue)", "detail": "\(detail)"]
            )
        case .resumed(let cause):
            gauges[cause]?.record(0)
            logger.info("resuming: \(cause.recovery)", metadata: ["cause": "\(cause.rawValue)"])
        case .released(let cause):
            gauges[cause]?.record(0)
            logger.warning("no command waits on the fault any more; taking new commands to try again", metadata: ["cause": "\(cause.rawValue)"])
        }
    }

    /// Why new deliveries wait, or nil.
    var reason: String? { pauses.withLock { $0.reason } }

    var isPaused: Bool { pauses.withLock { $0.isPaused } }

    /// Waits while paused, polling (a pause lasts seconds or more) until `stop` says to give up.
    func waitWhilePaused(stop: () -> Bool) async {
        while isPaused, !stop() {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
