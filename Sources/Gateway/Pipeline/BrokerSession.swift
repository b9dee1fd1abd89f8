import AMQP
import Synchronization

/// One generation of broker connections: a consumer connection and a publisher connection (so
/// flow control on publishing never stalls consumer acks). When either ends, the session is over;
/// its delivery tags are void and the broker redelivers what was not acknowledged.
final class BrokerSession: Sendable {
    let consumerConnection: AMQPConnection
    let consumerChannel: AMQPChannel
    let publisherConnection: AMQPConnection
    private enum Publisher {
        case channel(AMQPChannel)
        /// One reopen at a time: every caller that finds the channel closed waits for the same
        /// one (two reopening at once leaked a channel).
        case reopening(Task<AMQPChannel, any Error>, previous: AMQPChannel)
    }

    private let publisher: Mutex<Publisher>
    /// Commands whose results are published and not yet settled: a drain that runs out of time
    /// requeues them instead of waiting for a broker that stopped answering.
    private let settlements = Mutex<[ObjectIdentifier: SettlementDriver]>([:])

    init(consumerConnection: AMQPConnection, consumerChannel: AMQPChannel, publisherConnection: AMQPConnection, publisherChannel: AMQPChannel) {
        self.consumerConnection = consumerConnection
        self.consumerChannel = consumerChannel
        self.publisherConnection = publisherConnection
        self.publisher = Mutex(.channel(publisherChannel))
    }

    /// The confirm channel for results and dead letters, reopened if the broker closed it.
    func publishingChannel() async throws -> AMQPChannel {
        let connection = publisherConnection
        let (open, reopen): (AMQPChannel?, Task<AMQPChannel, any Error>?) = publisher.withLock { state in
            switch state {
            case .channel(let channel) where channel.isOpen:
                return (channel, nil)
            case .reopening(let task, _):
                return (nil, task)
            case .channel(let closed):
                let task = Task { try await connection.openChannel(publisherConfirms: true) }
                state = .reopening(task, previous: closed)
                return (nil, task)
            }
        }
        if let open { return open }
        guard let reopen else { throw CancellationError() }
        do {
            let fresh = try await reopen.value
            publisher.withLock { state in
                if case .reopening = state { state = .channel(fresh) }
            }
            return fresh
        } catch {
            // The next caller tries again.
            publisher.withLock { state in
                if case .reopening(_, let previous) = state { state = .channel(previous) }
            }
            throw error
        }
    }

    /// The confirm channel when it is open, without waiting; nil while it must be reopened.
    var openPublishingChannel: AMQPChannel? {
        publisher.withLock { state in
            if case .channel(let channel) = state, channel.isOpen { return channel }
            return nil
        }
    }

    func track(_ run: SettlementDriver) { settlements.withLock { $0[ObjectIdentifier(run)] = run } }

    func untrack(_ run: SettlementDriver) { settlements.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(run)) } }

    /// Requeues every command still waiting for its confirms.
    func abandonSettlements(because why: String) {
        let runs = settlements.withLock { Array($0.values) }
        for run in runs { run.abandon(because: why) }
    }

    var isOpen: Bool { consumerConnection.isOpen && publisherConnection.isOpen && consumerChannel.isOpen }

    var pendingConfirms: Int {
        publisher.withLock { state in
            if case .channel(let channel) = state { return channel.pendingConfirms }
            return 0
        }
    }

    func close() async {
        await consumerConnection.close(gracePeriodSeconds: 2)
        await publisherConnection.close(gracePeriodSeconds: 2)
    }
}
