import AMQP
import Foundation
import WorkModeDomain
import Yams

/// Reads the YAML file and the `WMG_` environment into a ``GatewayConfiguration``, refusing unknown
/// keys, bad values and unreadable secret files with one ``ConfigurationError`` naming the key.
///
/// Written on Yams rather than swift-configuration: the contract needs unknown keys reported
/// (swift-configuration only answers lookups) and its own environment naming (`WMG_` + the key
/// upper-cased, dots as underscores), which differs from swift-configuration's word-splitting.
public struct ConfigurationLoader {
    struct Raw {
        /// nil text means an explicit null.
        var text: String?
        var source: String
    }

    /// The variables `WMG_` overrides are read from.
    public let environment: [String: String]

    /// A loader that reads `environment` (the process's by default) for `WMG_` overrides.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// - Parameter path: the YAML file, or nil for defaults plus environment only.
    public func load(path: String?) throws(ConfigurationError) -> GatewayConfiguration {
        var values: [String: Raw] = [:]
        var tenants: [String: [String: Raw]] = [:]
        if let path {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(key: "--config", problem: "cannot read \(path)")
            }
            let node: Node?
            do {
                node = try Yams.compose(yaml: text)
            } catch {
                let firstLine: String = String(describing: error).split(separator: "\n").first.map(String.init) ?? ""
                throw ConfigurationError(key: "--config", problem: "not valid YAML: " + firstLine, source: path)
            }
            if let node {
                guard case .mapping(let root) = node else {
                    throw ConfigurationError(key: "--config", problem: "the file must hold a mapping of sections", source: path)
                }
                try walk(root, prefix: "", file: path, values: &values, tenants: &tenants)
            }
        }
        try applyEnvironment(values: &values, tenants: &tenants)
        return try build(values: values, tenants: tenants)
    }

    // MARK: - YAML

    private func walk(
        _ mapping: Node.Mapping, prefix: String, file: String, values: inout [String: Raw], tenants: inout [String: [String: Raw]]
    ) throws(ConfigurationError) {
        for (keyNode, valueNode) in mapping {
            let line: String = keyNode.mark.map { String($0.line) } ?? "?"
            let source = file + ":" + line
            guard case .scalar(let keyScalar) = keyNode else {
                throw ConfigurationError(key: prefix.isEmpty ? "(root)" : prefix, problem: "keys must be plain names", source: source)
            }
            let key = prefix.isEmpty ? keyScalar.string : prefix + "." + keyScalar.string
            if key == ConfigurationSchema.tenantsKey {
                try readTenants(valueNode, source: source, file: file, into: &tenants)
            } else if ConfigurationSchema.leaves[key] != nil {
                values[key] = try leaf(valueNode, key: key, source: source)
            } else if ConfigurationSchema.sections.contains(key) {
                switch valueNode {
                case .mapping(let child): try walk(child, prefix: key, file: file, values: &values, tenants: &tenants)
                case .scalar(let scalar) where Self.isNull(scalar): continue
                default: throw ConfigurationError(key: key, problem: "must be a section (a mapping of keys)", source: source)
                }
            } else {
                throw ConfigurationError(key: key, problem: "unknown key", source: source)
            }
        }
    }

    private func leaf(_ node: Node, key: String, source: String) throws(ConfigurationError) -> Raw {
        guard case .scalar(let scalar) = node else {
            throw ConfigurationError(key: key, problem: "must be a single value, not a list or mapping", source: source)
        }
        return Raw(text: Self.isNull(scalar) ? nil : scalar.string, source: source)
    }

    private static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func readTenants(_ node: Node, source: String, file: String, into tenants: inout [String: [String: Raw]]) throws(ConfigurationError) {
        let key = ConfigurationSchema.tenantsKey
        if case .scalar(let scalar) = node, Self.isNull(scalar) { return }
        guard case .mapping(let mapping) = node else {
            throw ConfigurationError(key: key, problem: "must map tenant IDs to {appSecret: …} or {appSecretFile: …}", source: source)
        }
        for (tenantNode, fieldsNode) in mapping {
            let line: String = tenantNode.mark.map { String($0.line) } ?? "?"
            let tenantSource = file + ":" + line
            guard case .scalar(let tenantScalar) = tenantNode, !tenantScalar.string.isEmpty else {
                throw ConfigurationError(key: key, problem: "tenant IDs must be plain names", source: tenantSource)
            }
            let tenantKey = key + "." + tenantScalar.string
            guard case .mapping(let fields) = fieldsNode else {
                throw ConfigurationError(key: tenantKey, problem: "must be {appSecret: …} or {appSecretFile: …}", source: tenantSource)
            }
            var entry: [String: Raw] = [:]
            for (fieldNode, valueNode) in fields {
                guard case .scalar(let field) = fieldNode, ConfigurationSchema.tenantFields.contains(field.string) else {
                    let name: String = fieldNode.scalar?.string ?? "?"
                    throw ConfigurationError(
                        key: tenantKey + "." + name, problem: "unknown key (use appSecret, appSecretFile or rateLimit)", source: tenantSource)
                }
                entry[field.string] = try leaf(valueNode, key: tenantKey + "." + field.string, source: tenantSource)
            }
            tenants[tenantScalar.string] = entry
        }
    }

    // MARK: - environment

    private func applyEnvironment(values: inout [String: Raw], tenants: inout [String: [String: Raw]]) throws(ConfigurationError) {
        for key in ConfigurationSchema.leaves.keys {
            for name in ConfigurationSchema.environmentNames(for: key) {
                guard let value = environment[name] else { continue }
                values[key] = Raw(text: value, source: name)
            }
        }
        if let inline = environment["WMG_OIFDE_AUTH_TENANTS"] {
            // A YAML or JSON flow mapping: {"t1": {"appSecretFile": "/run/secrets/t1"}}.
            let node: Node?
            do { node = try Yams.compose(yaml: inline) } catch {
                throw ConfigurationError(key: ConfigurationSchema.tenantsKey, problem: "not a YAML mapping", source: "WMG_OIFDE_AUTH_TENANTS")
            }
            tenants.removeAll()
            if let node { try readTenants(node, source: "WMG_OIFDE_AUTH_TENANTS", file: "WMG_OIFDE_AUTH_TENANTS", into: &tenants) }
        }
    }
}
