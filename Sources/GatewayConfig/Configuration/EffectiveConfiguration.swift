import AMQP
import Logging
import WorkModeDomain

/// The configuration as start-up logs it: every value, secrets masked.
public enum EffectiveConfiguration {
    /// The effective configuration as log metadata, with passwords and secrets masked (the start line).
    public static func metadata(_ c: GatewayConfiguration) -> Logger.Metadata {
        let amqp: String = (try? AMQPConfiguration.cluster(url: c.amqp.url))?.map(\.description).joined(separator: ", ") ?? "(invalid)"
        let tenants: String = c.oifde.tenants.keys.sorted().map { $0 + "=<secret>" }.joined(separator: ",")
        var metadata: Logger.Metadata = [:]
        let pairs: [(String, String)] = [
            ("amqp.url", "\(amqp)"), ("amqp.heartbeat", "\(DurationText.format(c.amqp.heartbeat))"), ("amqp.prefetch", "\(c.amqp.prefetch)"),
            ("amqp.tls.verifyPeer", "\(c.amqp.tls.verifyPeer)"),
            ("topology.declare", "\(c.topology.declare)"), ("topology.commandsQueue", "\(c.topology.commandsQueue)"),
            (
                "topology.deadLetterRetention",
                "\(DurationText.format(c.topology.deadLetterRetention)) or \(c.topology.deadLetterMaxBytes) bytes, watched every \(DurationText.format(c.topology.deadLetterWatchInterval))"
            ),
            ("topology.singleActiveConsumer", "\(c.topology.singleActiveConsumer)"), ("topology.partitions", "\(c.topology.partitions)"),
            ("replicas", "\(c.replicas.ordinal) of \(c.replicas.count), standby after \(DurationText.format(c.replicas.standbyDelay))"),
            ("oifde.baseURL", "\(c.oifde.baseURL)"), ("oifde.timeout", "\(DurationText.format(c.oifde.timeout))"),
            ("oifde.tls.verifyPeer", "\(c.oifde.tls.verifyPeer)"), ("oifde.auth.mode", "\(c.oifde.authMode.rawValue)"),
            ("oifde.auth.tenants", tenants),
            ("oifde.rateLimits", c.oifde.rateLimits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)/s" }.joined(separator: ",")),
            ("pipeline.maxInFlight", "\(c.pipeline.maxInFlight)"),
            (
                "pipeline.adaptive",
                c.pipeline.adaptive
                    ? "on (\(c.pipeline.minInFlight)…\(c.pipeline.maxInFlight), p90 under \(DurationText.format(c.pipeline.latencyTarget)))" : "off"
            ),
            ("pipeline.batchShare", "\(c.pipeline.batchShare)"),
            (
                "breaker",
                c.breaker.enabled
                    ? "\(c.breaker.failureRate) of ≥\(c.breaker.minimumRequests) in \(DurationText.format(c.breaker.window)), open \(DurationText.format(c.breaker.openFor))…\(DurationText.format(c.breaker.maxOpenFor))"
                    : "off"
            ),
            ("retry.maxAttempts", "\(c.retry.maxAttempts)"),
            ("retry.deadline", "\(DurationText.format(c.retry.deadline))"), ("dedupe.path", "\(c.dedupe.path)"),
            ("dedupe.capacity", "\(c.dedupe.capacity)"), ("dedupe.ttl", "\(DurationText.format(c.dedupe.ttl))"),
            ("shutdown.drainTimeout", "\(DurationText.format(c.drainTimeout))"), ("admin.listen", "\(c.adminListen)"),
            ("admin.token", c.adminToken == nil ? "not set" : "<secret>"),
            ("results.format", "\(c.results.format)"), ("tracing.otlp.endpoint", c.tracing.otlpEndpoint ?? "off"),
        ]
        for (key, value) in pairs { metadata[key] = .string(value) }
        return metadata
    }
}
