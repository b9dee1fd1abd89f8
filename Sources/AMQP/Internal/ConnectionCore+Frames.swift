internal import CRabbitMQ
import Synchronization

extension ConnectionCore {
    /// Reads and dispatches every frame that is available without waiting. Also where heartbeats
    /// are sent and a silent peer is detected (librabbitmq does both inside its wait call), so it
    /// runs before every batch of work, publishes included. Returns false once the connection is
    /// gone.
    func pumpFrames(budget: Int = 512) -> Bool {
        guard let state, terminal.withLock({ $0 }) == nil else { return false }
        defer { handOverDeliveries() }
        for _ in 0..<budget {
            // Pool memory may only be recycled when no put-back frame still points into it.
            if amqp_frames_enqueued(state) == 0 {
                amqp_maybe_release_buffers(state)
                releaseQuarantinedChannelNumbersIfIdle()
            }
            var frame = amqp_frame_t()
            var noWait = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &noWait)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return true }
            guard status == AMQP_STATUS_OK.rawValue else {
                handOverDeliveries()
                terminate(.connectionLost(Self.statusText(status)))
                return false
            }
            dispatch(frame)
            if terminal.withLock({ $0 }) != nil { return false }
        }
        return true
    }

    private func dispatch(_ frame: amqp_frame_t) {
        guard Int32(frame.frame_type) == AMQP_FRAME_METHOD, let decoded = frame.payload.method.decoded else {
            // Heartbeats are handled inside librabbitmq; stray content frames have no owner.
            return
        }
        let channel = frame.channel
        // Whatever follows the deliveries read so far (a cancel, a close) reaches their consumer after them.
        if frame.payload.method.id != AMQP_BASIC_DELIVER_METHOD { handOverDeliveries() }
        switch frame.payload.method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            handleDeliver(deliver, channel: channel)
        case AMQP_BASIC_ACK_METHOD:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            resolveConfirms(channel: channel, tag: ack.delivery_tag, multiple: ack.multiple != 0, ack: true)
        case AMQP_BASIC_NACK_METHOD:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            resolveConfirms(channel: channel, tag: nack.delivery_tag, multiple: nack.multiple != 0, ack: false)
        case AMQP_BASIC_RETURN_METHOD:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            handleReturn(returned, channel: channel)
        case AMQP_BASIC_CANCEL_METHOD:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = String(copyingText: cancel.consumer_tag)
            // Every consumer that shares the sequence ends with it: its owner reconnects and
            // starts them all again, rather than going on with some queues unconsumed.
            if let open = channels[channel], let sink = open.consumers[tag] {
                open.consumers = open.consumers.filter { $0.value !== sink }
                sink.continuation.finish(throwing: AMQPError.consumerCancelled(consumerTag: tag))
            }
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            channelClosedByBroker(channel, code: close.reply_code, text: String(copyingText: close.reply_text))
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            connectionClosedByBroker(code: close.reply_code, text: String(copyingText: close.reply_text))
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            eventSink.yield(.blocked(reason: String(copyingText: blocked.reason)))
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            eventSink.yield(.unblocked)
        case AMQP_CHANNEL_FLOW_METHOD:
            let flow = decoded.assumingMemoryBound(to: amqp_channel_flow_t.self).pointee
            var ok = amqp_channel_flow_ok_t(active: flow.active)
            _ = amqp_send_method(state, channel, AMQP_CHANNEL_FLOW_OK_METHOD, &ok)
        default:
            // Late RPC answers for closed channels and similar: nothing waits for them.
            break
        }
    }

    private func handleDeliver(_ deliver: amqp_basic_deliver_t, channel: UInt16) {
        let consumerTag = String(copyingText: deliver.consumer_tag)
        let exchange = String(copyingText: deliver.exchange)
        let routingKey = String(copyingText: deliver.routing_key)
        guard let content = readContent(channel: channel) else { return }
        // Deliveries still queued for a channel this client closed are dropped, never acked: the
        // broker requeues them with the channel.
        guard let open = channels[channel], let consumer = open.consumers[consumerTag] else { return }
        let delivery = Delivery(
            body: content.body, properties: content.properties,
            tag: DeliveryTag(value: deliver.delivery_tag, channelIncarnation: open.shared.incarnation),
            redelivered: deliver.redelivered != 0, exchange: exchange, routingKey: routingKey,
            consumerTag: consumerTag, messageCount: nil
        )
        if let index = pendingDeliveries.firstIndex(where: { $0.sink === consumer }) {
            pendingDeliveries[index].deliveries.append(delivery)
        } else {
            pendingDeliveries.append((consumer, [delivery]))
        }
    }

    /// Passes the deliveries read in this pass to their consumers, one batch each.
    func handOverDeliveries() {
        guard !pendingDeliveries.isEmpty else { return }
        for (sink, deliveries) in pendingDeliveries { sink.continuation.yield(deliveries) }
        pendingDeliveries.removeAll(keepingCapacity: true)
    }

    private func handleReturn(_ returned: amqp_basic_return_t, channel: UInt16) {
        let code = returned.reply_code
        let text = String(copyingText: returned.reply_text)
        let exchange = String(copyingText: returned.exchange)
        let routingKey = String(copyingText: returned.routing_key)
        guard let content = readContent(channel: channel), let open = channels[channel] else { return }
        _ = open.confirms.returned(
            exchange: exchange, routingKey: routingKey, messageId: content.properties.messageId, code: code, text: text
        )
    }

    private func resolveConfirms(channel: UInt16, tag: UInt64, multiple: Bool, ack: Bool) {
        guard let open = channels[channel] else { return }
        let resolved = open.confirms.confirmed(tag: tag, multiple: multiple, ack: ack)
        open.shared.pendingConfirms.store(open.confirms.outstandingCount, ordering: .relaxed)
        for (confirmation, outcome) in resolved { confirmation.resolve(.success(outcome)) }
    }

    /// Reads the header and body frames that follow a deliver, return or get-ok.
    func readContent(channel: UInt16) -> (body: [UInt8], properties: MessageProperties)? {
        guard let state else { return nil }
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            // On failure librabbitmq already freed the message's buffers without clearing them:
            // destroying it again would free twice.
            _ = handleFailedReply(reply, channel: channel)
            return nil
        }
        defer { amqp_destroy_message(&message) }
        return ([UInt8](copying: message.body), MessageProperties(copying: message.properties))
    }

    // MARK: - closes

    func channelClosedByBroker(_ number: UInt16, code: UInt16, text: String) {
        if let state {
            var ok = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, number, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
        }
        if let channel = channels.removeValue(forKey: number) {
            channel.fail(.channelClosed(code: code, text: text))
            releaseChannelNumber(number)
        }
    }

    func connectionClosedByBroker(code: UInt16, text: String) {
        if let state {
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
        }
        terminate(.connectionClosedByBroker(code: code, text: text))
    }

    /// The one funnel for failed synchronous replies: answers the broker's close, updates channel
    /// and connection state, and says what the caller should throw.
    func handleFailedReply(_ reply: amqp_rpc_reply_t, channel: UInt16) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            guard let decoded = reply.reply.decoded else {
                terminate(.connectionLost("the broker sent an unreadable close"))
                return terminalError
            }
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let error = AMQPError.channelClosed(code: close.reply_code, text: String(copyingText: close.reply_text))
                channelClosedByBroker(channel, code: close.reply_code, text: String(copyingText: close.reply_text))
                return error
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                connectionClosedByBroker(code: close.reply_code, text: String(copyingText: close.reply_text))
                return terminalError
            }
            terminate(.connectionLost("unexpected method \(reply.reply.id) in reply"))
            return terminalError
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            terminate(.connectionLost(Self.statusText(reply.library_error)))
            return terminalError
        default:
            terminate(.connectionLost("the broker closed the socket"))
            return terminalError
        }
    }

    /// For the RPC wrappers that return a pointer: NULL means look at the connection's last reply.
    func checkLastReply(channel: UInt16) throws(AMQPError) {
        guard let state else { throw terminalError }
        let reply = amqp_get_rpc_reply(state)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else { throw handleFailedReply(reply, channel: channel) }
    }
}
