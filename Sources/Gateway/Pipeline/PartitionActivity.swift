import Logging
import Metrics
import Synchronization

/// Which partitions this replica is active on. AMQP 0-9-1 does not tell a single-active consumer
/// when the broker makes it active, so a partition counts as active here while its deliveries keep
/// arriving: within the last `window` (a quiet partition drops out after it). Exported as
/// `wmg_partitions_active` (how many), `wmg_partition_active{partition}` (which) and
/// `wmg_partitions_configured` (the configured count), with a log line when this replica starts
/// serving a partition, so a rollout that left one replica with everything shows up.
final class PartitionActivity: Sendable {
    private struct State {
        var partitionOfTag: [String: Int] = [:]
        var lastDelivery: [Int: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    private let total: Int
    private let window: Duration
    private let logger: Logger
    private let active = Gauge(label: "wmg_partitions_active")
    private let configured = Gauge(label: "wmg_partitions_configured")

    init(partitions: Int, window: Duration = .seconds(60), logger: Logger) {
        total = partitions
        self.window = window
        self.logger = logger
        configured.record(partitions)
    }

    /// The consumer `tag` reads partition `index`.
    func register(tag: String, partition index: Int) {
        state.withLock { $0.partitionOfTag[tag] = index }
    }

    /// A new session's consumers have new tags; the old ones are gone with their channel.
    func forgetTags() {
        state.withLock { $0.partitionOfTag.removeAll() }
    }

    /// A delivery arrived for consumer `tag` (the hot path: one lock, two dictionary lookups).
    func delivered(consumerTag tag: String, at now: ContinuousClock.Instant = .now) {
        let started = state.withLock { state -> Int? in
            guard let partition = state.partitionOfTag[tag] else { return nil }
            let previous = state.lastDelivery.updateValue(now, forKey: partition)
            return previous.map { now - $0 > window } ?? true ? partition : nil
        }
        if let started { logger.info("active on partition p\(started): its commands come to this replica") }
    }

    /// The partitions active now, in order.
    func activePartitions(at now: ContinuousClock.Instant = .now) -> [Int] {
        state.withLock { state in state.lastDelivery.filter { now - $0.value <= window }.keys.sorted() }
    }

    /// Records the gauges (on each scrape).
    func observe() {
        let now = ContinuousClock.now
        let current = Set(activePartitions(at: now))
        active.record(current.count)
        for partition in 0..<total {
            Gauge(label: "wmg_partition_active", dimensions: [("partition", "p\(partition)")]).record(current.contains(partition) ? 1 : 0)
        }
    }
}
