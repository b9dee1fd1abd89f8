internal import CRabbitMQ
import Synchronization

/// Every operation, as run on the owner thread. Callers reach these through ``ConnectionCore/perform(_:)``
/// or ``ConnectionCore/submit(_:)``.
extension ConnectionCore {
    func connectedState() throws(AMQPError) -> amqp_connection_state_t {
        guard let state, terminal.withLock({ $0 }) == nil else { throw terminalError }
        return state
    }

    func openChannelState(_ shared: ChannelShared) throws(AMQPError) -> ChannelState {
        guard let channel = channels[shared.number], channel.shared === shared else {
            throw shared.closedBecause ?? terminal.withLock({ $0 }) ?? .closedByClient
        }
        return channel
    }

    // MARK: - channels

    func openChannel(publisherConfirms: Bool) throws(AMQPError) -> ChannelShared {
        let state = try connectedState()
        guard let number = allocateChannelNumber() else {
            throw .invalidArgument("no free channel number (the broker allows \(maxChannelNumber))")
        }
        if amqp_channel_open(state, number) == nil {
            // A failed open does not leave a usable number behind if the connection went with it.
            try checkLastReply(channel: number)
        }
        let shared = ChannelShared(number: number, incarnation: ChannelShared.nextIncarnation(), publisherConfirms: publisherConfirms)
        let channel = ChannelState(shared: shared)
        channels[number] = channel
        if publisherConfirms, amqp_confirm_select(state, number) == nil {
            try checkLastReply(channel: number)
        }
        return shared
    }

    func closeChannel(_ shared: ChannelShared) throws(AMQPError) {
        let channel = try openChannelState(shared)
        let state = try connectedState()
        channels.removeValue(forKey: channel.number)
        channel.fail(.closedByClient)
        let reply = amqp_channel_close(state, channel.number, AMQP_REPLY_SUCCESS)
        releaseChannelNumber(channel.number)
        if reply.reply_type != AMQP_RESPONSE_NORMAL { _ = handleFailedReply(reply, channel: channel.number) }
    }

    /// Runs a pointer-returning librabbitmq RPC on an open channel and checks its reply.
    func rpc<T>(_ shared: ChannelShared, _ call: (amqp_connection_state_t, UInt16) -> UnsafeMutablePointer<T>?) throws(AMQPError) -> T {
        let channel = try openChannelState(shared)
        let state = try connectedState()
        defer { arena.reset() }
        guard let result = call(state, channel.number) else {
            try checkLastReply(channel: channel.number)
            throw .connectionLost("the broker gave no answer")
        }
        return result.pointee
    }

    // MARK: - publish

    func publish(
        _ shared: ChannelShared, body: [UInt8], exchange: String, routingKey: String, mandatory: Bool,
        properties: MessageProperties, confirmation: PublishConfirmation
    ) {
        let channel: ChannelState
        let state: amqp_connection_state_t
        do throws(AMQPError) {
            channel = try openChannelState(shared)
            state = try connectedState()
        } catch {
            confirmation.resolve(.failure(error))
            return
        }
        defer { arena.reset() }
        var cProperties = properties.cProperties(in: arena)
        let status = body.withUnsafeBytes { raw in
            amqp_basic_publish(
                state, channel.number, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0,
                &cProperties, amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            )
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            // A failed write leaves the stream in an unknown state: the connection is done.
            terminate(.connectionLost(Self.statusText(status)))
            confirmation.resolve(.failure(terminalError))
            return
        }
        _ = channel.confirms.published(
            .init(
                token: confirmation, mandatory: mandatory, exchange: exchange, routingKey: routingKey,
                messageId: properties.messageId, returned: nil)
        )
        shared.pendingConfirms.store(channel.confirms.outstandingCount, ordering: .relaxed)
    }

    // MARK: - acknowledgements

    enum Acknowledgement: Sendable {
        case ack(multiple: Bool)
        case nack(multiple: Bool, requeue: Bool)
        case reject(requeue: Bool)
    }

    /// Sends the acks, nacks and rejects submitted since the last look, as few frames as
    /// ``AckCoalescer`` allows, skipping tags whose channel incarnation is gone (a stale tag would
    /// close the channel, or with a reused number, settle the wrong message).
    func acknowledge(_ requests: [AckRequest]) {
        guard let state, terminal.withLock({ $0 }) == nil else { return }
        var batches: [(channel: ChannelState, requests: [(tag: UInt64, kind: Acknowledgement)])] = []
        for request in requests {
            guard request.tag.channelIncarnation == request.channel.incarnation, let channel = channels[request.channel.number],
                channel.shared === request.channel
            else { continue }
            if let index = batches.firstIndex(where: { $0.channel === channel }) {
                batches[index].requests.append((request.tag.value, request.kind))
            } else {
                batches.append((channel, [(request.tag.value, request.kind)]))
            }
        }
        for batch in batches {
            let frames = batch.channel.acknowledgements.frames(for: batch.requests)
            batch.channel.shared.acknowledgementFrames.add(frames.count, ordering: .relaxed)
            for frame in frames {
                let status: Int32
                switch frame {
                case .ack(let tag, let multiple):
                    status = amqp_basic_ack(state, batch.channel.number, tag, multiple ? 1 : 0)
                case .nack(let tag, let multiple, let requeue):
                    status = amqp_basic_nack(state, batch.channel.number, tag, multiple ? 1 : 0, requeue ? 1 : 0)
                case .reject(let tag, let requeue):
                    status = amqp_basic_reject(state, batch.channel.number, tag, requeue ? 1 : 0)
                }
                if status != AMQP_STATUS_OK.rawValue {
                    terminate(.connectionLost(Self.statusText(status)))
                    return
                }
            }
        }
    }

    // MARK: - consume

    func consume(
        _ shared: ChannelShared, queue: String, exclusive: Bool, arguments: FieldTable,
        sink: ConsumerSink
    ) throws(AMQPError) -> String {
        let ok = try rpc(shared) { state, number in
            amqp_basic_consume(state, number, arena.bytes(queue), amqp_bytes_t(len: 0, bytes: nil), 0, 0, exclusive ? 1 : 0, arena.table(arguments))
        }
        let tag = String(copyingText: ok.consumer_tag)
        // Deliveries that came while waiting for consume-ok are still queued in librabbitmq, so
        // registering now loses none of them. A sink that is not kept would end the stream at
        // once with no error, which reads as a consumer that simply stopped: say why instead.
        guard channels[shared.number] != nil else { throw shared.closedBecause ?? .connectionLost("the channel closed while consuming began") }
        channels[shared.number]?.consumers[tag] = sink
        sink.tags.withLock { $0.append(tag) }
        return tag
    }

    func cancel(_ shared: ChannelShared, consumerTag: String) throws(AMQPError) {
        let channel = try openChannelState(shared)
        guard let sink = channel.consumers.removeValue(forKey: consumerTag) else { return }
        sink.tags.withLock { $0.removeAll { $0 == consumerTag } }
        if !channel.consumers.values.contains(where: { $0 === sink }) { sink.continuation.finish() }
        _ = try rpc(shared) { state, number in amqp_basic_cancel(state, number, arena.bytes(consumerTag)) }
    }

    func get(_ shared: ChannelShared, queue: String) throws(AMQPError) -> Delivery? {
        let channel = try openChannelState(shared)
        let state = try connectedState()
        defer { arena.reset() }
        let reply = amqp_basic_get(state, channel.number, arena.bytes(queue), 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else { throw handleFailedReply(reply, channel: channel.number) }
        guard reply.reply.id == AMQP_BASIC_GET_OK_METHOD, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let exchange = String(copyingText: ok.exchange)
        let routingKey = String(copyingText: ok.routing_key)
        guard let content = readContent(channel: channel.number) else {
            throw terminal.withLock({ $0 }) ?? shared.closedBecause ?? .connectionLost("content missing")
        }
        return Delivery(
            body: content.body, properties: content.properties,
            tag: DeliveryTag(value: ok.delivery_tag, channelIncarnation: shared.incarnation),
            redelivered: ok.redelivered != 0, exchange: exchange, routingKey: routingKey, consumerTag: "",
            messageCount: ok.message_count
        )
    }

    // MARK: - close

    /// Closes politely when the connection is healthy; the RPC timeout bounds the wait.
    func closeConnection() {
        stopRequested = true
        guard let state, terminal.withLock({ $0 }) == nil else { return }
        for channel in channels.values { channel.fail(.closedByClient) }
        channels.removeAll()
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        terminate(.closedByClient)
    }
}
