import Foundation
import GatewayConfig
import Logging
import Metrics
import Operations
import WorkModeDomain

/// Keeps the dead letters' retention visible to Prometheus: every `interval` it reads the open dead
/// letters the way the console does (reading changes nothing) and records
/// - `wmg_dead_letters_open`: letters without a settlement,
/// - `wmg_dead_letters_oldest_age_seconds`: the age of the oldest open one (0 when none), the first
///   letter retention will delete,
/// - `wmg_dead_letters_retention_seconds`: `topology.deadLetterRetention`,
/// so the alert `DeadLetterNearRetention` fires while an operator can still act. A reading costs
/// about one listing (0.65 s plus the stream's size); a failed one is counted
/// (`wmg_dead_letters_watch_failures_total`) and leaves the last figures in place.
public struct DeadLetterWatch: Sendable {
    let context: OperatorContext
    let interval: Duration
    let logger: Logger

    /// The watch over the dead letters of `configuration`'s topology, read every `interval`.
    public init(configuration: GatewayConfiguration, interval: Duration = .seconds(60), logger: Logger) {
        context = OperatorContext(configuration: configuration)
        self.interval = interval
        self.logger = logger
    }

    /// Reads until cancelled; the first reading starts at once.
    public func run() async {
        let retention = Gauge(label: "wmg_dead_letters_retention_seconds")
        let open = Gauge(label: "wmg_dead_letters_open")
        let oldestAge = Gauge(label: "wmg_dead_letters_oldest_age_seconds")
        let failures = Counter(label: "wmg_dead_letters_watch_failures_total")
        retention.record(context.configuration.topology.deadLetterRetention.components.seconds)
        while !Task.isCancelled {
            do {
                let browse = try await DeadLetterTools(context: context, filter: DeadLetterFilter()).browse(limit: 0)
                open.record(browse.scanned)
                oldestAge.record(browse.oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
            } catch is CancellationError {
                return
            } catch {
                failures.increment()
                logger.debug("dead-letter watch: cannot read the dead letters: \(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }
}
