import Synchronization

/// An AMQP channel. Obtain one from ``AMQPConnection/openChannel(publisherConfirms:)``.
///
/// A channel the broker closed (for example after a 406 PRECONDITION_FAILED) stays closed; every
/// later call throws ``AMQPError/channelClosed(code:text:)`` and the connection remains usable for
/// new channels.
public final class AMQPChannel: Sendable {
    let core: ConnectionCore
    let shared: ChannelShared

    init(core: ConnectionCore, shared: ChannelShared) {
        self.core = core
        self.shared = shared
    }

    /// The channel number on the connection (numbers are reused after a close).
    public var number: UInt16 { shared.number }

    /// `nil` while open; afterwards, why it closed.
    public var closeReason: AMQPError? { shared.closedBecause ?? core.terminal.withLock { $0 } }

    /// False once the broker or the client closed the channel; a closed channel is never reused.
    public var isOpen: Bool { closeReason == nil }

    /// Publishes not yet answered by the broker.
    public var pendingConfirms: Int { shared.pendingConfirms.load(ordering: .relaxed) }
    /// Ack, nack and reject frames sent on this channel so far. Plain acks that complete a run from
    /// the lowest unsettled delivery go out as one `multiple` ack, so this is usually below the
    /// number of ``ack(_:multiple:)`` calls.
    public var acknowledgementFramesSent: Int { shared.acknowledgementFrames.load(ordering: .relaxed) }

    /// Closes the channel; unacknowledged deliveries on it return to their queues.
    public func close() async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in try core.closeChannel(shared) }
    }

    // MARK: - exchanges

    /// Declares an exchange (`exchange.declare`); the broker closes the channel with 406 when it exists with other settings.
    public func declareExchange(
        _ name: String, type: ExchangeType, durable: Bool = true, autoDelete: Bool = false, internal isInternal: Bool = false,
        arguments: FieldTable = [:]
    ) async throws(AMQPError) {
        try await exchangeDeclare(
            name, type: type, passive: false, durable: durable, autoDelete: autoDelete, internal: isInternal, arguments: arguments)
    }

    /// Checks that an exchange exists without changing it. Throws 404 NOT_FOUND (closing this channel)
    /// when it does not.
    public func checkExchange(_ name: String) async throws(AMQPError) {
        try await exchangeDeclare(name, type: .direct, passive: true, durable: false, autoDelete: false, internal: false, arguments: [:])
    }

    private func exchangeDeclare(
        _ name: String, type: ExchangeType, passive: Bool, durable: Bool, autoDelete: Bool, internal isInternal: Bool, arguments: FieldTable
    ) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.declareExchange(
                shared, name, type: type.rawValue, passive: passive, durable: durable, autoDelete: autoDelete, internal: isInternal,
                arguments: arguments)
        }
    }

    /// Deletes an exchange; with `ifUnused`, only when no queue is bound to it.
    public func deleteExchange(_ name: String, ifUnused: Bool = false) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.deleteExchange(shared, name, ifUnused: ifUnused)
        }
    }

    // MARK: - queues

    /// Declares a queue. Declaring an existing queue with other arguments fails with 406
    /// PRECONDITION_FAILED and closes this channel.
    @discardableResult
    public func declareQueue(
        _ name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, arguments: FieldTable = [:]
    ) async throws(AMQPError) -> QueueInfo {
        try await queueDeclare(name, passive: false, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments)
    }

    /// Checks that a queue exists and reports its counts. Throws 404 NOT_FOUND (closing this channel)
    /// when it does not.
    public func checkQueue(_ name: String) async throws(AMQPError) -> QueueInfo {
        try await queueDeclare(name, passive: true, durable: false, exclusive: false, autoDelete: false, arguments: [:])
    }

    private func queueDeclare(
        _ name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: FieldTable
    ) async throws(AMQPError) -> QueueInfo {
        let shared = self.shared
        return try await core.perform { core throws(AMQPError) in
            try core.declareQueue(
                shared, name, passive: passive, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments)
        }
    }

    /// Binds `queue` to `exchange` with `routingKey` (`queue.bind`).
    public func bindQueue(_ queue: String, exchange: String, routingKey: String, arguments: FieldTable = [:]) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.bindQueue(shared, queue, exchange: exchange, routingKey: routingKey, arguments: arguments, bind: true)
        }
    }

    /// Binds exchange `destination` to exchange `source` with `routingKey` (`exchange.bind`, a
    /// RabbitMQ extension): what `source` routes with that key also goes through `destination`.
    public func bindExchange(_ destination: String, to source: String, routingKey: String, arguments: FieldTable = [:]) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.bindExchange(shared, destination: destination, source: source, routingKey: routingKey, arguments: arguments)
        }
    }

    /// Removes an exchange-to-exchange binding (`exchange.unbind`); removing one that does not
    /// exist succeeds.
    public func unbindExchange(_ destination: String, from source: String, routingKey: String, arguments: FieldTable = [:]) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.unbindExchange(shared, destination: destination, source: source, routingKey: routingKey, arguments: arguments)
        }
    }

    /// Removes a binding (`queue.unbind`).
    public func unbindQueue(_ queue: String, exchange: String, routingKey: String, arguments: FieldTable = [:]) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.bindQueue(shared, queue, exchange: exchange, routingKey: routingKey, arguments: arguments, bind: false)
        }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws(AMQPError) -> UInt32 {
        let shared = self.shared
        return try await core.perform { core throws(AMQPError) in
            try core.deleteQueue(shared, name, ifUnused: ifUnused, ifEmpty: ifEmpty)
        }
    }

    /// Removes every ready message; returns how many.
    @discardableResult
    public func purgeQueue(_ name: String) async throws(AMQPError) -> UInt32 {
        let shared = self.shared
        return try await core.perform { core throws(AMQPError) in
            try core.purgeQueue(shared, name)
        }
    }

    // MARK: - consuming

    /// Limits unacknowledged deliveries per consumer on this channel (RabbitMQ's per-consumer
    /// meaning; global QoS is refused by quorum queues).
    public func qos(prefetchCount: UInt16) async throws(AMQPError) {
        let shared = self.shared
        try await core.perform { core throws(AMQPError) in
            try core.qos(shared, prefetchCount: prefetchCount)
        }
    }

    /// Starts a consumer with manual acknowledgements.
    ///
    /// The returned sequence buffers deliveries without bound; ``qos(prefetchCount:)`` is what bounds
    /// it, so set it first. The sequence ends with ``AMQPError/consumerCancelled(consumerTag:)`` when the
    /// broker cancels the consumer, and with the connection's or channel's error when either closes.
    public func consume(queue: String, exclusive: Bool = false, arguments: FieldTable = [:]) async throws(AMQPError) -> AMQPConsumer {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [Delivery].self, throwing: (any Error).self)
        let sink = ConsumerSink(continuation: continuation, channel: ObjectIdentifier(shared))
        let shared = self.shared
        let tag = try await core.perform { core throws(AMQPError) in
            try core.consume(shared, queue: queue, exclusive: exclusive, arguments: arguments, sink: sink)
        }
        return AMQPConsumer(tag: tag, stream: stream, sink: sink)
    }

    /// Starts one more consumer, on `queue`, whose deliveries join `consumer`'s sequence (no task
    /// or buffer between them: the connection thread yields each into the one sequence).
    /// ``cancel(_:)`` then stops them all; a broker's cancel of any of them ends the sequence.
    /// - Throws: ``AMQPError/invalidArgument(_:)`` when `consumer` belongs to another channel.
    /// - Returns: the new consumer's tag, which its deliveries carry (``Delivery/consumerTag``).
    @discardableResult
    public func consume(
        queue: String, joining consumer: AMQPConsumer, exclusive: Bool = false, arguments: FieldTable = [:]
    ) async throws(AMQPError) -> String {
        guard consumer.sink.channel == ObjectIdentifier(shared) else {
            throw .invalidArgument("a consumer can only be joined on the channel it was started on")
        }
        let shared = self.shared
        let sink = consumer.sink
        return try await core.perform { core throws(AMQPError) in
            try core.consume(shared, queue: queue, exclusive: exclusive, arguments: arguments, sink: sink)
        }
    }

    /// Stops a consumer; its sequence finishes normally.
    public func cancel(_ consumer: AMQPConsumer) async throws(AMQPError) {
        let shared = self.shared
        for tag in consumer.tags {
            try await core.perform { core throws(AMQPError) in try core.cancel(shared, consumerTag: tag) }
        }
    }

    /// `basic.get` with manual acknowledgement; `nil` when the queue is empty.
    public func get(queue: String) async throws(AMQPError) -> Delivery? {
        let shared = self.shared
        return try await core.perform { core throws(AMQPError) in try core.get(shared, queue: queue) }
    }

    // MARK: - acknowledging

    /// Acknowledges a delivery (and with `multiple`, every earlier one on this channel).
    /// - Throws: ``AMQPError/staleDeliveryTag(_:)`` when the delivery came from another channel or
    ///   this channel has closed; nothing is sent then.
    public func ack(_ delivery: Delivery, multiple: Bool = false) throws(AMQPError) {
        try acknowledge(delivery.tag, .ack(multiple: multiple))
    }

    /// Negatively acknowledges; with `requeue` the broker delivers it again (`redelivered == true`).
    public func nack(_ delivery: Delivery, multiple: Bool = false, requeue: Bool = true) throws(AMQPError) {
        try acknowledge(delivery.tag, .nack(multiple: multiple, requeue: requeue))
    }

    /// Rejects one delivery (`basic.reject`); requeued or, when not, dead-lettered by the queue's policy.
    public func reject(_ delivery: Delivery, requeue: Bool) throws(AMQPError) {
        try acknowledge(delivery.tag, .reject(requeue: requeue))
    }

    private func acknowledge(_ tag: DeliveryTag, _ kind: ConnectionCore.Acknowledgement) throws(AMQPError) {
        guard tag.channelIncarnation == shared.incarnation, shared.isOpen else { throw .staleDeliveryTag(tag) }
        guard core.submitAck(.init(channel: shared, tag: tag, kind: kind)) else { throw .staleDeliveryTag(tag) }
    }

    // MARK: - publishing

    /// Hands a message to the connection thread and returns at once; await the returned
    /// ``PublishConfirmation`` for the broker's answer. Publishes on one channel keep their order.
    ///
    /// - Parameter mandatory: the broker returns the message if no queue takes it; the confirmation
    ///   then reports ``PublishOutcome/returned(replyCode:replyText:)``.
    /// - Throws: ``AMQPError/confirmsNotEnabled`` on a channel opened without publisher confirms.
    public func publish(
        _ body: [UInt8], exchange: String, routingKey: String, mandatory: Bool = false,
        properties: MessageProperties = MessageProperties()
    ) throws(AMQPError) -> PublishConfirmation {
        guard shared.publisherConfirms else { throw .confirmsNotEnabled }
        let confirmation = PublishConfirmation()
        let shared = self.shared
        let accepted = core.submit { core in
            core.publish(
                shared, body: body, exchange: exchange, routingKey: routingKey, mandatory: mandatory,
                properties: properties, confirmation: confirmation)
        }
        if !accepted { confirmation.resolve(.failure(core.terminalError)) }
        return confirmation
    }

    /// Hands several messages to the connection thread as one piece of work (one wake-up of it),
    /// in order; one confirmation each, in the same order.
    /// - Throws: ``AMQPError/confirmsNotEnabled`` on a channel opened without publisher confirms.
    public func publish(_ messages: [OutgoingMessage]) throws(AMQPError) -> [PublishConfirmation] {
        guard shared.publisherConfirms else { throw .confirmsNotEnabled }
        let confirmations = messages.map { _ in PublishConfirmation() }
        let shared = self.shared
        let accepted = core.submit { core in
            for (message, confirmation) in zip(messages, confirmations) {
                core.publish(
                    shared, body: message.body, exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory,
                    properties: message.properties, confirmation: confirmation)
            }
        }
        if !accepted {
            for confirmation in confirmations { confirmation.resolve(.failure(core.terminalError)) }
        }
        return confirmations
    }

    /// Publishes and waits for the broker's answer.
    public func publishAndConfirm(
        _ body: [UInt8], exchange: String, routingKey: String, mandatory: Bool = false,
        properties: MessageProperties = MessageProperties()
    ) async throws -> PublishOutcome {
        try await publish(body, exchange: exchange, routingKey: routingKey, mandatory: mandatory, properties: properties).outcome()
    }
}
