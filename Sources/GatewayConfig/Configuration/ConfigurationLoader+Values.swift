import AMQP
import Foundation
import WorkModeDomain

/// Typed reading of the raw values: every conversion names its key when it fails.
extension ConfigurationLoader {
    func build(values: [String: Raw], tenants: [String: [String: Raw]]) throws(ConfigurationError) -> GatewayConfiguration {
        var c = GatewayConfiguration()
        var reader = Reader(values: values)
        try reader.url("amqp.url", &c.amqp.url) { text throws(ConfigurationError) in
            do { _ = try AMQPConfiguration.cluster(url: text) } catch {
                throw ConfigurationError(key: "amqp.url", problem: String(describing: error), source: values["amqp.url"]?.source)
            }
        }
        if let file = values["amqp.passwordFile"], let path = file.text, !path.isEmpty {
            let password = try PasswordFile.read(key: "amqp.passwordFile", path: path, source: file.source)
            c.amqp.url = try PasswordFile.inserting(
                password, into: c.amqp.url, urlKey: "amqp.url", fileKey: "amqp.passwordFile", source: values["amqp.url"]?.source)
        }
        try reader.duration("amqp.heartbeat", &c.amqp.heartbeat)
        try reader.int("amqp.prefetch", &c.amqp.prefetch)
        try reader.string("amqp.connectionName", &c.amqp.connectionName)
        try reader.path("amqp.tls.caFile", &c.amqp.tls.caFile)
        try reader.path("amqp.tls.certFile", &c.amqp.tls.certFile)
        try reader.path("amqp.tls.keyFile", &c.amqp.tls.keyFile)
        try reader.bool("amqp.tls.verifyPeer", &c.amqp.tls.verifyPeer)
        try reader.bool("topology.declare", &c.topology.declare)
        try reader.string("topology.commandsExchange", &c.topology.commandsExchange)
        try reader.string("topology.commandsQueue", &c.topology.commandsQueue)
        try reader.string("topology.commandsRoutingKey", &c.topology.commandsRoutingKey)
        try reader.string("topology.resultsExchange", &c.topology.resultsExchange)
        try reader.string("topology.deadLetterExchange", &c.topology.deadLetterExchange)
        try reader.string("topology.deadLetterQueue", &c.topology.deadLetterQueue)
        try reader.int("topology.deliveryLimit", &c.topology.deliveryLimit)
        try reader.duration("topology.deadLetterRetention", &c.topology.deadLetterRetention)
        if c.topology.deadLetterRetention < .seconds(60) {
            throw ConfigurationError(
                key: "topology.deadLetterRetention", problem: "must be 1m or longer; got \(DurationText.format(c.topology.deadLetterRetention))",
                source: values["topology.deadLetterRetention"]?.source)
        }
        try reader.int("topology.deadLetterMaxBytes", &c.topology.deadLetterMaxBytes)
        try reader.duration("topology.deadLetterWatchInterval", &c.topology.deadLetterWatchInterval)
        try reader.bool("topology.singleActiveConsumer", &c.topology.singleActiveConsumer)
        try reader.int("topology.partitions", &c.topology.partitions)
        try reader.int("replicas.count", &c.replicas.count)
        try reader.ordinal("replicas.ordinal", &c.replicas.ordinal)
        try reader.duration("replicas.standbyDelay", &c.replicas.standbyDelay)
        // An ordinal at or past replicas.count is a pod a scale-down is removing (or one started
        // before the count was raised): it waits as a standby for every partition, never exits.
        try reader.url("oifde.baseURL", &c.oifde.baseURL) { text throws(ConfigurationError) in
            guard text.hasPrefix("https://") || text.hasPrefix("http://"), URL(string: text)?.host != nil else {
                throw ConfigurationError(
                    key: "oifde.baseURL", problem: "must be an https:// (or http://) URL with a host", source: values["oifde.baseURL"]?.source)
            }
        }
        try reader.duration("oifde.timeout", &c.oifde.timeout)
        try reader.duration("oifde.idleTimeout", &c.oifde.idleTimeout)
        c.oifde.proxy = try proxy(values, baseURL: c.oifde.baseURL)
        try reader.path("oifde.tls.caFile", &c.oifde.tls.caFile)
        try reader.bool("oifde.tls.verifyPeer", &c.oifde.tls.verifyPeer)
        try reader.path("oifde.tls.certFile", &c.oifde.tls.certFile)
        try reader.path("oifde.tls.keyFile", &c.oifde.tls.keyFile)
        try reader.choice("oifde.tls.minimumVersion", &c.oifde.tls.minimumVersion)
        if (c.oifde.tls.certFile == nil) != (c.oifde.tls.keyFile == nil) {
            throw ConfigurationError(
                key: c.oifde.tls.certFile == nil ? "oifde.tls.certFile" : "oifde.tls.keyFile",
                problem: "oifde.tls.certFile and oifde.tls.keyFile go together (a client certificate and its key)",
                source: values["oifde.tls.certFile"]?.source ?? values["oifde.tls.keyFile"]?.source)
        }
        var mode = c.oifde.authMode.rawValue
        try reader.choice("oifde.auth.mode", &mode)
        c.oifde.authMode = CommandDecoder.AuthMode(rawValue: mode) ?? .token
        try reader.int("pipeline.maxInFlight", &c.pipeline.maxInFlight)
        try reader.int("pipeline.maxMessageBytes", &c.pipeline.maxMessageBytes)
        try reader.bool("pipeline.adaptive", &c.pipeline.adaptive)
        try reader.int("pipeline.minInFlight", &c.pipeline.minInFlight)
        try reader.duration("pipeline.latencyTarget", &c.pipeline.latencyTarget)
        try reader.fraction("pipeline.batchShare", &c.pipeline.batchShare)
        // The default floor (4) is not an error beside a smaller maxInFlight: it is clamped.
        if c.pipeline.adaptive, values["pipeline.minInFlight"] != nil, c.pipeline.minInFlight > c.pipeline.maxInFlight {
            throw ConfigurationError(
                key: "pipeline.minInFlight",
                problem: "must not exceed pipeline.maxInFlight (\(c.pipeline.maxInFlight)); got \(c.pipeline.minInFlight)",
                source: values["pipeline.minInFlight"]?.source)
        }
        try reader.bool("breaker.enabled", &c.breaker.enabled)
        try reader.fraction("breaker.failureRate", &c.breaker.failureRate)
        try reader.int("breaker.minimumRequests", &c.breaker.minimumRequests)
        try reader.duration("breaker.window", &c.breaker.window)
        try reader.duration("breaker.openFor", &c.breaker.openFor)
        try reader.duration("breaker.maxOpenFor", &c.breaker.maxOpenFor)
        if c.breaker.maxOpenFor < c.breaker.openFor {
            throw ConfigurationError(
                key: "breaker.maxOpenFor", problem: "must not be shorter than breaker.openFor", source: values["breaker.maxOpenFor"]?.source)
        }
        if c.breaker.window <= .zero || c.breaker.openFor <= .zero {
            throw ConfigurationError(key: "breaker.window", problem: "breaker.window and breaker.openFor must be longer than 0")
        }
        try reader.int("retry.maxAttempts", &c.retry.maxAttempts)
        try reader.duration("retry.initialBackoff", &c.retry.initialBackoff)
        try reader.duration("retry.maxBackoff", &c.retry.maxBackoff)
        try reader.duration("retry.deadline", &c.retry.deadline)
        try reader.string("dedupe.path", &c.dedupe.path)
        try reader.int("dedupe.capacity", &c.dedupe.capacity)
        try reader.duration("dedupe.ttl", &c.dedupe.ttl)
        try reader.duration("shutdown.drainTimeout", &c.drainTimeout)
        try reader.listen("admin.listen", &c.adminListen)
        c.adminToken = try adminToken(values)
        try reader.choice("log.level", &c.log.level)
        try reader.choice("log.format", &c.log.format)
        try reader.choice("results.format", &c.results.format)
        try reader.string("results.source", &c.results.source)
        try reader.optionalText("tracing.otlp.endpoint", &c.tracing.otlpEndpoint)
        if let endpoint = c.tracing.otlpEndpoint,
            !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) || URL(string: endpoint)?.host == nil
        {
            throw ConfigurationError(
                key: "tracing.otlp.endpoint",
                problem: "must be the collector's OTLP/HTTP URL, e.g. http://127.0.0.1:4318/v1/traces; got \(endpoint)",
                source: values["tracing.otlp.endpoint"]?.source)
        }
        if c.dedupe.path.isEmpty {
            throw ConfigurationError(key: "dedupe.path", problem: "must name the journal file", source: values["dedupe.path"]?.source)
        }
        var isDirectory: ObjCBool = false
        if c.dedupe.path.hasSuffix("/")
            || (FileManager.default.fileExists(atPath: c.dedupe.path, isDirectory: &isDirectory) && isDirectory.boolValue)
        {
            throw ConfigurationError(
                key: "dedupe.path",
                problem:
                    "\(c.dedupe.path) is a directory; name the journal file in it (e.g. \(c.dedupe.path.hasSuffix("/") ? c.dedupe.path : c.dedupe.path + "/")completions.journal)",
                source: values["dedupe.path"]?.source
            )
        }
        if c.retry.maxBackoff < c.retry.initialBackoff {
            throw ConfigurationError(key: "retry.maxBackoff", problem: "must not be shorter than retry.initialBackoff")
        }
        let hasCertificate: Bool = c.amqp.tls.certFile != nil
        let hasKey: Bool = c.amqp.tls.keyFile != nil
        if hasCertificate != hasKey {
            throw ConfigurationError(key: "amqp.tls.keyFile", problem: "amqp.tls.certFile and amqp.tls.keyFile go together")
        }
        (c.oifde.tenants, c.oifde.rateLimits) = try secrets(tenants, authMode: c.oifde.authMode)
        return c
    }

    /// `admin.token` or `admin.tokenFile` (one of them); nil when neither is set.
    private func adminToken(_ values: [String: Raw]) throws(ConfigurationError) -> GatewayConfiguration.Secret? {
        let inline = values["admin.token"]
        let file = values["admin.tokenFile"]
        switch (inline?.text.flatMap { $0.isEmpty ? nil : $0 }, file?.text.flatMap { $0.isEmpty ? nil : $0 }) {
        case (nil, nil):
            return nil
        case (_?, _?):
            throw ConfigurationError(key: "admin.token", problem: "set admin.token or admin.tokenFile, not both", source: inline?.source)
        case (let token?, nil):
            guard token.count >= 16 else {
                throw ConfigurationError(key: "admin.token", problem: "must be at least 16 characters", source: inline?.source)
            }
            return .init(token)
        case (nil, let path?):
            guard let data = FileManager.default.contents(atPath: path),
                let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), text.count >= 16
            else {
                throw ConfigurationError(
                    key: "admin.tokenFile", problem: "cannot read a token of at least 16 characters from \(path)", source: file?.source)
            }
            return .init(text)
        }
    }

    private func secrets(
        _ tenants: [String: [String: Raw]], authMode: CommandDecoder.AuthMode
    ) throws(ConfigurationError) -> (secrets: [String: GatewayConfiguration.Secret], rateLimits: [String: Double]) {
        var result: [String: GatewayConfiguration.Secret] = [:]
        var rateLimits: [String: Double] = [:]
        for (tenant, fields) in tenants {
            let key = ConfigurationSchema.tenantsKey + "." + tenant
            if let raw = fields["rateLimit"] {
                guard let text = raw.text, let rate = Double(text), rate >= 0, rate <= 1_000_000 else {
                    throw ConfigurationError(
                        key: key + ".rateLimit", problem: "must be commands per second from 0 (no limit) to 1000000; got \(raw.text ?? "null")",
                        source: raw.source)
                }
                if rate > 0 { rateLimits[tenant] = rate }
            }
            let inline = fields["appSecret"]
            let file = fields["appSecretFile"]
            switch (inline?.text, file?.text) {
            case (let secret?, nil) where !secret.isEmpty:
                result[tenant] = .init(secret)
            case (nil, let path?) where !path.isEmpty:
                guard let data = FileManager.default.contents(atPath: path),
                    let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .newlines), !text.isEmpty
                else {
                    throw ConfigurationError(key: key + ".appSecretFile", problem: "cannot read a secret from \(path)", source: file?.source)
                }
                result[tenant] = .init(text)
            case (_?, _?):
                throw ConfigurationError(key: key, problem: "set appSecret or appSecretFile, not both", source: inline?.source)
            case (nil, nil) where authMode == .passthrough && fields["rateLimit"] != nil:
                // Passthrough sends the command's own token: a tenant entry may only set its rate.
                continue
            default:
                throw ConfigurationError(
                    key: key, problem: "the tenant has no secret (appSecret or appSecretFile)", source: inline?.source ?? file?.source)
            }
        }
        return (result, rateLimits)
    }

    struct Reader {
        let values: [String: Raw]

        private func raw(_ key: String) -> Raw? { values[key] }

        private func fail(_ key: String, _ problem: String) -> ConfigurationError {
            ConfigurationError(key: key, problem: problem, source: values[key]?.source)
        }

        private func required(_ key: String) throws(ConfigurationError) -> String? {
            guard let raw = raw(key) else { return nil }
            guard let text = raw.text else { throw fail(key, "must not be null") }
            return text
        }

        mutating func string(_ key: String, _ target: inout String) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard !text.isEmpty else { throw fail(key, "must not be empty") }
            target = text
        }

        mutating func url(_ key: String, _ target: inout String, check: (String) throws(ConfigurationError) -> Void) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            try check(text)
            target = text
        }

        /// A text that may be absent, null or empty (all three: nil).
        mutating func optionalText(_ key: String, _ target: inout String?) throws(ConfigurationError) {
            guard let raw = raw(key) else { return }
            target = raw.text.flatMap { $0.isEmpty ? nil : $0 }
        }

        mutating func path(_ key: String, _ target: inout String?) throws(ConfigurationError) {
            guard let raw = raw(key) else { return }
            guard let text = raw.text, !text.isEmpty else {
                target = nil
                return
            }
            guard FileManager.default.isReadableFile(atPath: text) else { throw fail(key, "cannot read \(text)") }
            target = text
        }

        mutating func bool(_ key: String, _ target: inout Bool) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            switch text.lowercased() {
            case "true", "yes", "on", "1": target = true
            case "false", "no", "off", "0": target = false
            default: throw fail(key, "must be true or false; got \(text)")
            }
        }

        mutating func int(_ key: String, _ target: inout Int) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard case .int(let range)? = ConfigurationSchema.leaves[key], let value = Int(text) else {
                throw fail(key, "must be a whole number; got \(text)")
            }
            guard range.contains(value) else { throw fail(key, "must be from \(range.lowerBound) to \(range.upperBound); got \(value)") }
            target = value
        }

        /// A replica's ordinal: a number, or a StatefulSet pod name whose last `-` part is one
        /// (`workmode-gateway-2` is 2), so `WMG_REPLICAS_ORDINAL` can be set from the pod's name.
        mutating func ordinal(_ key: String, _ target: inout Int) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            let digits = text.split(separator: "-").last.map(String.init) ?? text
            guard let value = Int(digits), value >= 0, value < 1024 else {
                throw fail(key, "must be a number from 0 to 1023 or a pod name ending in one (workmode-gateway-2); got \(text)")
            }
            target = value
        }

        mutating func fraction(_ key: String, _ target: inout Double) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard case .fraction(let range)? = ConfigurationSchema.leaves[key], let value = Double(text), value.isFinite else {
                throw fail(key, "must be a number; got \(text)")
            }
            guard range.contains(value) else { throw fail(key, "must be from \(range.lowerBound) to \(range.upperBound); got \(value)") }
            target = value
        }

        mutating func duration(_ key: String, _ target: inout Duration) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard let value = DurationText.parse(text) else {
                throw fail(key, "must be a duration such as 250ms, 5s, 2m, 7d or a number of seconds, at most 100 years; got \(text)")
            }
            target = value
        }

        mutating func choice(_ key: String, _ target: inout String) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard case .choice(let options)? = ConfigurationSchema.leaves[key], options.contains(text) else {
                throw fail(key, "must be one of \(Self.options(key)); got \(text)")
            }
            target = text
        }

        private static func options(_ key: String) -> String {
            if case .choice(let options)? = ConfigurationSchema.leaves[key] { return options.joined(separator: ", ") }
            return ""
        }

        mutating func listen(_ key: String, _ target: inout ListenAddress) throws(ConfigurationError) {
            guard let text = try required(key) else { return }
            guard let address = ListenAddress(text) else { throw fail(key, "must be HOST:PORT (an IPv6 address in brackets); got \(text)") }
            target = address
        }
    }
}
