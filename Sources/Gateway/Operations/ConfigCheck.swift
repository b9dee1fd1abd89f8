import AMQP
import GatewayConfig
import Logging
import OIFDEClient
import WorkModeDomain

/// `workmode-gateway config check [--connect]`: what `run` would use, checked without running it
/// (like `nginx -t`). Without `--connect` nothing leaves the process; with it, the broker, the topology
/// and one `gettoken` per tenant are tried, each reported on its own line.
public enum ConfigCheck {
    /// One thing `--connect` tried.
    public struct Finding: Sendable {
        /// What came of it, and so the exit status.
        public enum Outcome: Sendable {
            case ok
            /// Drift between the configuration and the broker: exit 2, like `topology check`.
            case drift
            /// May work later (the broker or OIFDE cannot be reached): exit 75.
            case unavailable
            /// Will not work until the configuration changes (a refused login or appSecret): exit 78.
            case misconfigured
        }

        /// What was tried: `broker`, `topology`, `oifde gettoken TENANT`.
        public let check: String
        /// What came of it.
        public let outcome: Outcome
        /// One line: the address reached, the entities that differ, or why it failed (no secrets).
        public let detail: String
    }

    /// The effective configuration, secrets masked, as `key`/`value` pairs in key order.
    public static func effective(_ configuration: GatewayConfiguration) -> [(key: String, value: String)] {
        EffectiveConfiguration.metadata(configuration).map { (key: $0.key, value: "\($0.value)") }.sorted { $0.key < $1.key }
    }

    /// The exit status for a run that found `findings`: the most lasting problem wins (78, then 75, then 2).
    public static func status(_ findings: [Finding]) -> Int32 {
        let outcomes = findings.map(\.outcome)
        if outcomes.contains(where: { if case .misconfigured = $0 { true } else { false } }) { return 78 }
        if outcomes.contains(where: { if case .unavailable = $0 { true } else { false } }) { return 75 }
        if outcomes.contains(where: { if case .drift = $0 { true } else { false } }) { return 2 }
        return 0
    }

    /// Connects to the broker (the first address that answers), checks the topology as the daemon
    /// would declare it, and asks OIFDE for a token per configured tenant (token mode).
    public static func connect(_ configuration: GatewayConfiguration, logger: Logger) async -> [Finding] {
        var findings: [Finding] = []
        findings += await broker(configuration)
        findings += await oifde(configuration, logger: logger)
        return findings
    }

    private static func broker(_ configuration: GatewayConfiguration) async -> [Finding] {
        let addresses: [AMQPConfiguration]
        do { addresses = try configuration.amqp.connections(role: "config check") } catch {
            return [Finding(check: "broker", outcome: .misconfigured, detail: "amqp.url: \(error)")]
        }
        var failures: [String] = []
        var refused = false
        for address in addresses {
            let connection: AMQPConnection
            do { connection = try await AMQPConnection.connect(address) } catch {
                failures.append("\(address): \(error)")
                if case AMQPError.loginRefused = error { refused = true }
                continue
            }
            var findings = [Finding(check: "broker", outcome: .ok, detail: "\(address)")]
            do {
                let lines = try await Topology(configuration.topology).check(on: connection, verifyArguments: true)
                // With topology.declare on, `run` declares what is missing; only a difference stops it.
                let declares = configuration.topology.declare
                let missing = lines.filter { !$0.ok && $0.line.contains(" is missing") }.map(\.line)
                let differing = lines.filter { !$0.ok && !(declares && $0.line.contains(" is missing")) }.map(\.line)
                if !differing.isEmpty {
                    findings.append(Finding(check: "topology", outcome: .drift, detail: differing.joined(separator: "; ")))
                } else if !missing.isEmpty {
                    findings.append(Finding(check: "topology", outcome: .ok, detail: "\(missing.count) entities missing; run declares them"))
                } else {
                    findings.append(Finding(check: "topology", outcome: .ok, detail: "\(lines.count) entities as configured"))
                }
            } catch {
                findings.append(Finding(check: "topology", outcome: .unavailable, detail: "cannot check: \(error)"))
            }
            await connection.close()
            return findings
        }
        return [Finding(check: "broker", outcome: refused ? .misconfigured : .unavailable, detail: failures.joined(separator: "; "))]
    }

    private static func oifde(_ configuration: GatewayConfiguration, logger: Logger) async -> [Finding] {
        guard configuration.oifde.authMode == .token else {
            return [Finding(check: "oifde", outcome: .ok, detail: "passthrough: commands carry their own tokens; nothing to ask")]
        }
        let client: OIFDEClient
        do { client = try OIFDEClient(configuration: configuration.oifdeClientConfiguration, logger: logger) } catch {
            return [Finding(check: "oifde", outcome: .misconfigured, detail: "\(error)")]
        }
        var findings: [Finding] = []
        for tenant in configuration.oifde.tenants.keys.sorted() {
            let check = "oifde gettoken \(tenant)"
            guard let failure = await client.probeToken(tenant: tenant) else {
                findings.append(Finding(check: check, outcome: .ok, detail: "token issued"))
                continue
            }
            let lasting: Bool
            if case .rejected = failure.verdict { lasting = true } else { lasting = false }
            findings.append(Finding(check: check, outcome: lasting ? .misconfigured : .unavailable, detail: failure.reason))
        }
        try? await client.shutdown()
        return findings
    }
}
