internal import CRabbitMQ
import Synchronization

/// Declarations and queue management on the owner thread.
extension ConnectionCore {
    func declareExchange(
        _ shared: ChannelShared, _ name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool, internal isInternal: Bool,
        arguments: FieldTable
    ) throws(AMQPError) {
        _ = try rpc(shared) { state, number in
            amqp_exchange_declare(
                state, number, arena.bytes(name), arena.bytes(type), passive ? 1 : 0, durable ? 1 : 0,
                autoDelete ? 1 : 0, isInternal ? 1 : 0, arena.table(arguments))
        }
    }

    func deleteExchange(_ shared: ChannelShared, _ name: String, ifUnused: Bool) throws(AMQPError) {
        _ = try rpc(shared) { state, number in amqp_exchange_delete(state, number, arena.bytes(name), ifUnused ? 1 : 0) }
    }

    func declareQueue(
        _ shared: ChannelShared, _ name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: FieldTable
    ) throws(AMQPError) -> QueueInfo {
        let ok = try rpc(shared) { state, number in
            amqp_queue_declare(
                state, number, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0,
                autoDelete ? 1 : 0, arena.table(arguments))
        }
        return QueueInfo(name: String(copyingText: ok.queue), messageCount: ok.message_count, consumerCount: ok.consumer_count)
    }

    func bindQueue(
        _ shared: ChannelShared, _ queue: String, exchange: String, routingKey: String, arguments: FieldTable, bind: Bool
    ) throws(AMQPError) {
        if bind {
            _ = try rpc(shared) { state, number in
                amqp_queue_bind(state, number, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
            }
        } else {
            _ = try rpc(shared) { state, number in
                amqp_queue_unbind(state, number, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
            }
        }
    }

    func bindExchange(_ shared: ChannelShared, destination: String, source: String, routingKey: String, arguments: FieldTable) throws(AMQPError) {
        _ = try rpc(shared) { state, number in
            amqp_exchange_bind(state, number, arena.bytes(destination), arena.bytes(source), arena.bytes(routingKey), arena.table(arguments))
        }
    }

    func unbindExchange(_ shared: ChannelShared, destination: String, source: String, routingKey: String, arguments: FieldTable) throws(AMQPError) {
        _ = try rpc(shared) { state, number in
            amqp_exchange_unbind(state, number, arena.bytes(destination), arena.bytes(source), arena.bytes(routingKey), arena.table(arguments))
        }
    }

    func deleteQueue(_ shared: ChannelShared, _ name: String, ifUnused: Bool, ifEmpty: Bool) throws(AMQPError) -> UInt32 {
        try rpc(shared) { state, number in
            amqp_queue_delete(state, number, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        }.message_count
    }

    func purgeQueue(_ shared: ChannelShared, _ name: String) throws(AMQPError) -> UInt32 {
        try rpc(shared) { state, number in amqp_queue_purge(state, number, arena.bytes(name)) }.message_count
    }

    func qos(_ shared: ChannelShared, prefetchCount: UInt16) throws(AMQPError) {
        // global = 0: per-consumer limits. Global QoS with a quorum queue closes the connection (540).
        _ = try rpc(shared) { state, number in amqp_basic_qos(state, number, 0, prefetchCount, 0) }
    }
}
