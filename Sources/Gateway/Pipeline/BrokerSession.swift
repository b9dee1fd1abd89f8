import AMQP
import Synchronization

/// One generation of broker connections: a consumer connection and a publisher connection (so
/// flow control on publishing never stalls consumer acks). When either ends, the session is over;
/// its delivery tags are void and the broker redelivers what was not acknowledged.
final class BrokerSession: Sendable {
    let consumerConnection: AMQPConnection
    let consumerChannel: AMQPChannel
    let publisherConnection: AMQPConnection
    private let publisherChannel: Mutex<AMQPChannel>

    init(consumerConnection: AMQPConnection, consumerChannel: AMQPChannel, publisherConnection: AMQPConnection, publisherChannel: AMQPChannel) {
        self.consumerConnection = consumerConnection
        self.consumerChannel = consumerChannel
        self.publisherConnection = publisherConnection
        self.publisherChannel = Mutex(publisherChannel)
    }

    /// The confirm channel for results and dead letters, reopened if the broker closed it.
    func publishingChannel() async throws -> AMQPChannel {
        let current = publisherChannel.withLock { $0 }
        if current.isOpen { return current }
        let fresh = try await publisherConnection.openChannel(publisherConfirms: true)
        publisherChannel.withLock { $0 = fresh }
        return fresh
    }

    var isOpen: Bool { consumerConnection.isOpen && publisherConnection.isOpen && consumerChannel.isOpen }

    var pendingConfirms: Int { publisherChannel.withLock { $0.pendingConfirms } }

    func close() async {
        await consumerConnection.close(gracePeriodSeconds: 2)
        await publisherConnection.close(gracePeriodSeconds: 2)
    }
}
