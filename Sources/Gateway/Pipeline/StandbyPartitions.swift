import AMQP
import PipelineCore
import Synchronization

/// The other replicas' partitions, consumed as a standby on a channel of this replica's own, so
/// that they can be handed back without touching the replica's own partitions.
///
/// Why a channel of their own: RabbitMQ 3.10 ignores consumer priority for single active
/// consumers, so a returning owner does not get its partitions back from the standby that stood
/// in. The standby must let go itself, keeping each call's order (``HandOver``): it stops starting
/// the channel's fresh deliveries, settles what it started and the returns still ahead of what it
/// holds, and closes the channel. The broker then returns what the channel held and makes the next
/// consumer (the owner) active in one step, and the returned commands go to it before any later
/// ones. On RabbitMQ 4.x the owner's priority does the same inside the broker, and no hand-back is
/// needed.
final class StandbyPartitions: Sendable {
    let channel: AMQPChannel
    let handOver = HandOverDriver()

    private struct State {
        var consumer: AMQPConsumer?
        var partitionByTag: [String: Int] = [:]
        var started = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var lastDelivery: [Int: ContinuousClock.Instant] = [:]
        /// When this replica first found each partition's owner back.
        var ownerSeen: [Int: ContinuousClock.Instant] = [:]
        /// Partitions whose owner this subscription has seen gone: it may have become their
        /// active consumer meanwhile, with or without deliveries to show it.
        var ownerWasAway: Set<Int> = []
        var partitions: Set<Int> = []
    }

    private let state = Mutex(State())

    init(channel: AMQPChannel) { self.channel = channel }

    func subscribed(_ consumer: AMQPConsumer) { state.withLock { $0.consumer = consumer } }

    func register(tag: String, queue: String, partition: Int) {
        state.withLock { state in
            state.partitionByTag[tag] = partition
            state.partitions.insert(partition)
        }
        handOver.register(tag: tag, queue: queue)
    }

    /// The partitions this channel stands by on.
    var partitions: [Int] { state.withLock { $0.partitions.sorted() } }

    var consumer: AMQPConsumer? { state.withLock { $0.consumer } }

    /// True once a hand-back (or a drain) has begun: only returns ahead of held deliveries start.
    var isRetiring: Bool { handOver.isLettingGo }

    /// Whether to start `delivery` (``HandOver``); a held one is returned by the channel's close,
    /// in order, for the owner. Each start is matched by one ``settled()``.
    func admit(_ delivery: Delivery) -> HandOver<String>.Decision {
        let decision = handOver.decide(delivery)
        guard decision == .start else { return decision }
        state.withLock { state in
            state.started += 1
            if let partition = state.partitionByTag[delivery.consumerTag] { state.lastDelivery[partition] = .now }
        }
        return decision
    }

    /// A delivery ``admit(_:)`` let through is settled (acknowledged or requeued).
    func settled() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.started -= 1
            guard state.started == 0 else { return [] }
            defer { state.idleWaiters.removeAll() }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Records whether `partition`'s owner is back; true when the partition is due back to it:
    /// the owner has been back for `grace` (time enough for a broker that honours consumer
    /// priority to stop delivering it here), and either this subscription saw the owner gone (so
    /// it may have become the active consumer, even without traffic to show it) or it still
    /// received one of the partition's deliveries after the grace.
    func ownerBack(_ partition: Int, present: Bool, at now: ContinuousClock.Instant, grace: Duration) -> Bool {
        state.withLock { state in
            guard present else {
                state.ownerSeen[partition] = nil
                state.ownerWasAway.insert(partition)
                return false
            }
            let seen = state.ownerSeen[partition] ?? now
            state.ownerSeen[partition] = seen
            guard now - seen >= grace else { return false }
            if state.ownerWasAway.contains(partition) { return true }
            guard let last = state.lastDelivery[partition] else { return false }
            return last >= seen + grace
        }
    }

    /// Lets go: returns once every started delivery is settled and the returns ahead of the held
    /// ones are taken (``HandOver``); then holds everything for the channel's close.
    func retire(asking readyCounts: HandOverDriver.ReadyCounts) async {
        handOver.letGo()
        while !Task.isCancelled {
            await idle()
            switch await handOver.closing(asking: readyCounts) {
            case .now:
                handOver.seal()
                // A return started between the check and the seal is waited for too.
                if state.withLock({ $0.started }) == 0 { return }
            case .notBefore(let instant):
                try? await Task.sleep(until: instant, clock: .continuous)
            }
        }
        handOver.seal()
    }

    /// Returns once nothing started is unsettled.
    private func idle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                guard state.started > 0 else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
