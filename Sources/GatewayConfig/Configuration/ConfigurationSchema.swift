import Foundation

/// Every key the configuration knows, with the kind of value it takes. Anything else in the file
/// is an error: a typo must not silently fall back to a default.
enum ConfigurationSchema {
    enum Kind {
        case string, optionalPath, bool, duration, listen, url, ordinal
        case int(ClosedRange<Int>)
        case fraction(ClosedRange<Double>)
        case choice([String])
    }

    private static func range(_ lower: Int, _ upper: Int) -> ClosedRange<Int> { lower...upper }

    static let leaves: [String: Kind] = [
        "amqp.url": .url, "amqp.passwordFile": .optionalPath, "amqp.heartbeat": .duration, "amqp.prefetch": .int(Self.range(1, 65535)),
        "amqp.connectionName": .string,
        "amqp.tls.caFile": .optionalPath, "amqp.tls.certFile": .optionalPath, "amqp.tls.keyFile": .optionalPath,
        "amqp.tls.verifyPeer": .bool,
        "topology.declare": .bool, "topology.commandsExchange": .string, "topology.commandsQueue": .string,
        "topology.commandsRoutingKey": .string, "topology.resultsExchange": .string, "topology.deadLetterExchange": .string,
        "topology.deadLetterQueue": .string, "topology.deliveryLimit": .int(Self.range(1, 100_000)),
        "topology.deadLetterRetention": .duration, "topology.deadLetterWatchInterval": .duration,
        "topology.deadLetterMaxBytes": .int(Self.range(1_000_000, Int.max)),
        "topology.singleActiveConsumer": .bool, "topology.partitions": .int(Self.range(0, 1024)),
        "replicas.count": .int(Self.range(1, 1024)), "replicas.ordinal": .ordinal, "replicas.standbyDelay": .duration,
        "oifde.baseURL": .url, "oifde.timeout": .duration, "oifde.idleTimeout": .duration, "oifde.tls.caFile": .optionalPath,
        "oifde.tls.verifyPeer": .bool,
        "oifde.tls.certFile": .optionalPath, "oifde.tls.keyFile": .optionalPath, "oifde.tls.minimumVersion": .choice(["1.2", "1.3"]),
        "oifde.proxy.url": .string, "oifde.proxy.passwordFile": .optionalPath, "oifde.proxy.noProxy": .string,
        "oifde.auth.mode": .choice(["token", "passthrough"]),
        "pipeline.maxInFlight": .int(Self.range(1, 65535)), "pipeline.maxMessageBytes": .int(Self.range(256, 134_217_728)),
        "pipeline.adaptive": .bool, "pipeline.minInFlight": .int(Self.range(1, 65535)), "pipeline.latencyTarget": .duration,
        "pipeline.batchShare": .fraction(0...1),
        "breaker.enabled": .bool, "breaker.failureRate": .fraction(0.01...1), "breaker.minimumRequests": .int(Self.range(1, 1_000_000)),
        "breaker.window": .duration, "breaker.openFor": .duration, "breaker.maxOpenFor": .duration,
        "retry.maxAttempts": .int(Self.range(1, 1000)), "retry.initialBackoff": .duration, "retry.maxBackoff": .duration,
        "retry.deadline": .duration,
        "dedupe.path": .string, "dedupe.capacity": .int(Self.range(1, 100_000_000)), "dedupe.ttl": .duration,
        "shutdown.drainTimeout": .duration,
        "admin.listen": .listen, "admin.token": .string, "admin.tokenFile": .optionalPath,
        "log.level": .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        "log.format": .choice(["json", "text"]),
        "results.format": .choice(["native", "cloudevents"]), "results.source": .string,
        "tracing.otlp.endpoint": .optionalPath,
    ]

    /// The map of tenants and their secrets; its keys are tenant IDs, not schema keys.
    static let tenantsKey = "oifde.auth.tenants"
    static let tenantFields: Set<String> = ["appSecret", "appSecretFile", "rateLimit"]

    /// Keys that hold sections (mappings).
    static let sections: Set<String> = {
        var result: Set<String> = [tenantsKey]
        for key in leaves.keys {
            var parts = key.split(separator: ".").dropLast()
            while !parts.isEmpty {
                result.insert(parts.joined(separator: "."))
                parts = parts.dropLast()
            }
        }
        return result
    }()

    /// The environment variable names that override a key: the contract's (`amqp.connectionName` →
    /// `WMG_AMQP_CONNECTIONNAME`), and the word-split spelling (`WMG_AMQP_CONNECTION_NAME`) that
    /// swift-configuration and most tools use.
    static func environmentNames(for key: String) -> [String] {
        let plain = "WMG_" + key.replacingOccurrences(of: ".", with: "_").uppercased()
        var split = "WMG_"
        var previousLower = false
        for character in key {
            if character == "." {
                split.append("_")
                previousLower = false
                continue
            }
            if character.isUppercase, previousLower { split.append("_") }
            split.append(contentsOf: character.uppercased())
            previousLower = character.isLowercase
        }
        return plain == split ? [plain] : [plain, split]
    }
}
