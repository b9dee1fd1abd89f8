import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to an AMQP 0-9-1 broker (RabbitMQ), backed by librabbitmq.
///
/// Each connection owns one dedicated OS thread that makes every librabbitmq call; this type and
/// its channels are `Sendable` and may be used from any task. The connection does not reconnect by
/// itself: when ``waitForTermination()`` returns, open a new one (delivery tags of the old one are
/// void, and the broker redelivers unacknowledged messages).
public final class AMQPConnection: Sendable {
    let core: ConnectionCore

    /// The settings it connected with.
    public var configuration: AMQPConfiguration { core.configuration }

    private init(core: ConnectionCore) { self.core = core }

    /// Connects, negotiates TLS when configured, and logs in.
    ///
    /// Advertises the capabilities `publisher_confirms`, `consumer_cancel_notify`,
    /// `connection.blocked` and `basic.nack`, and the connection name.
    /// - Throws: ``AMQPError/connectFailed(_:)`` or ``AMQPError/loginRefused(_:)``.
    public static func connect(_ configuration: AMQPConfiguration) async throws(AMQPError) -> AMQPConnection {
        let core = try ConnectionCore(configuration: configuration)
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            core.start { continuation.resume(returning: $0) }
        }
        try result.get()
        return AMQPConnection(core: core)
    }

    /// Opens a channel. With `publisherConfirms`, every publish on it is answered by the broker
    /// (``PublishConfirmation``).
    public func openChannel(publisherConfirms: Bool = false) async throws(AMQPError) -> AMQPChannel {
        let shared = try await core.perform { core throws(AMQPError) in try core.openChannel(publisherConfirms: publisherConfirms) }
        return AMQPChannel(core: core, shared: shared)
    }

    /// `connection.blocked` and `unblocked` notices. Finishes when the connection ends.
    public var events: AsyncStream<ConnectionEvent> { core.events }

    /// The heartbeat interval agreed with the broker, in seconds (0: none).
    public var heartbeatSeconds: Int { core.negotiatedHeartbeat.load(ordering: .relaxed) }

    /// `nil` while the connection is up; afterwards, why it ended.
    public var terminationReason: AMQPError? { core.terminal.withLock { $0 } }

    /// False once the connection ended, by a close or a loss.
    public var isOpen: Bool { terminationReason == nil }

    /// Returns when the connection has ended, with the reason: the broker closed it, the transport
    /// failed (including a peer silent for two heartbeat intervals), or ``close()`` was called.
    public func waitForTermination() async -> AMQPError { await core.waitForTermination() }

    /// Closes the connection and waits until its thread has finished.
    ///
    /// Cannot hang: the polite close is bounded by the RPC timeout, and if the connection thread is
    /// stuck in a blocking call (a dead or flow-blocked peer), its socket is shut down after
    /// `gracePeriodSeconds`, which unblocks it.
    public func close(gracePeriodSeconds: Double = 5) async {
        core.submit { core in core.closeConnection() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.core.waitForThreadExit() }
            group.addTask {
                try? await Task.sleep(for: .seconds(gracePeriodSeconds))
                let fd = self.core.socketFD.load(ordering: .sequentiallyConsistent)
                if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
