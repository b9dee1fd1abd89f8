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
            ("oifde.idleTimeout", "\(DurationText.format(c.oifde.idleTimeout))"),
            ("oifde.tls.verifyPeer", "\(c.oifde.tls.verifyPeer)"),
            (
                "oifde.proxy",
                c.oifde.proxy.map { proxy in
                    "http://\(proxy.user.map { $0 + (proxy.password == nil ? "" : ":***") + "@" } ?? "")\(proxy.host):\(proxy.port) from \(proxy.source)"
                        + (proxy.noProxy.isEmpty ? "" : ", not for \(proxy.noProxy.joined(separator: ","))")
                } ?? "none"
            ), ("oifde.auth.mode", "\(c.oifde.authMode.rawValue)"),
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

extension EffectiveConfiguration {
    /// Settings that work but expose something, one line each, logged as warnings at start:
    /// secrets or commands in clear text, a peer whose certificate is not checked.
    public static func warnings(_ c: GatewayConfiguration) -> [String] {
        var lines: [String] = []
        if c.oifde.baseURL.hasPrefix("http://"), c.oifde.authMode == .token {
            lines.append("oifde.baseURL is http://: every tenant's appSecret and every token cross the network in clear text; use https://")
        }
        if !c.oifde.tls.verifyPeer {
            lines.append("oifde.tls.verifyPeer is false: OIFDE's certificate is not checked, so tokens and appSecrets can be taken on the path")
        }
        let addresses = (try? AMQPConfiguration.cluster(url: c.amqp.url)) ?? []
        for address in addresses where address.tls == nil && !Self.isLoopback(address.host) {
            lines.append(
                "amqp.url is amqp:// to \(address.host): the broker password and every command cross the network in clear text; use amqps://")
        }
        if !c.amqp.tls.verifyPeer, addresses.contains(where: { $0.tls != nil }) {
            lines.append("amqp.tls.verifyPeer is false: the broker's certificate is not checked")
        }
        return lines
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
