import AMQP
import GatewayConfig
import Logging
import Metrics

/// One live replica per ordinal. Each partitioned replica declares an exclusive queue named after
/// its ordinal on its consumer connection; the broker lets only one connection hold it, and drops
/// it when that connection goes (a crash included). A second replica started with the same
/// ordinal (a copied unit file, a StatefulSet replaced by a Deployment) finds it locked and serves
/// as a standby for every partition instead of competing for the first one's, and says so. It
/// claims again with each new broker session, so it takes the ordinal over once the first is gone.
enum OrdinalClaim {
    /// `<commandsQueue>.replica-<ordinal>`: listed by `rabbitmqctl list_queues` with its owner's
    /// connection, so an operator sees which replica holds which ordinal.
    static func queueName(_ configuration: GatewayConfiguration, ordinal: Int? = nil) -> String {
        "\(configuration.topology.commandsQueue).replica-\(ordinal ?? configuration.replicas.ordinal)"
    }

    /// Whether a live replica holds `ordinal`: the owner of its partitions is back. (It claims
    /// before it subscribes, within milliseconds; a queue's consumer count cannot tell, since
    /// RabbitMQ counts only the active one of a single-active-consumer queue.)
    static func isHeld(ordinal: Int, configuration: GatewayConfiguration, on connection: AMQPConnection) async throws -> Bool {
        let probe = try await connection.openChannel()
        do {
            // Another connection's exclusive queue answers 405 to a passive declare; none, 404.
            _ = try await probe.checkQueue(queueName(configuration, ordinal: ordinal))
            try? await probe.close()
            return true
        } catch {
            return error.replyCode == 405
        }
    }

    /// True when this replica holds its ordinal now (or has no ordinal to hold: no partitions, or
    /// an ordinal past the count). False when another live replica holds it. Other broker errors
    /// are thrown: the session is failing and the next one tries again.
    static func claim(_ configuration: GatewayConfiguration, on connection: AMQPConnection, logger: Logger) async throws -> Bool {
        guard configuration.topology.partitions > 0, configuration.replicas.ordinal < configuration.replicas.count else { return true }
        let name = queueName(configuration)
        let channel = try await connection.openChannel()
        let refusal: String
        do {
            try await channel.declareQueue(name, durable: false, exclusive: true, autoDelete: true)
            try? await channel.close()
            Gauge(label: "wmg_replica_ordinal_claimed").record(1)
            return true
        } catch {
            guard case .channelClosed(code: 405, let text) = error else { throw error }
            refusal = text
        }
        Gauge(label: "wmg_replica_ordinal_claimed").record(0)
        logger.error(
            "replicas.ordinal \(configuration.replicas.ordinal) is held by another live replica: standby for every partition until it is free; give each replica its own ordinal",
            metadata: ["queue": "\(name)", "broker": "\(refusal)"])
        return false
    }
}
