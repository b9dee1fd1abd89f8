import AMQP
import Foundation
import GatewayConfig
import WorkModeDomain

/// What every operator command shares with `run`: the same `--config` file and `WMG_`
/// environment, and a broker connection named after the tool.
public struct OperatorContext: Sendable {
    /// The configuration the daemon would use.
    public let configuration: GatewayConfiguration

    /// Loads the configuration the daemon would use (file, then `WMG_` variables).
    public init(configPath: String?) throws(OperatorError) {
        let path = configPath ?? ProcessInfo.processInfo.environment["WMG_CONFIG"]
        do {
            configuration = try ConfigurationLoader().load(path: path)
        } catch {
            throw OperatorError(.configuration, "\(error)")
        }
    }

    /// The context of a running daemon: its configuration as loaded (the dead-letter console).
    public init(configuration: GatewayConfiguration) {
        self.configuration = configuration
    }

    /// The daemon's own validation rules, with this configuration's size limit and auth mode.
    public var decoder: CommandDecoder {
        CommandDecoder(maxMessageBytes: configuration.pipeline.maxMessageBytes, authMode: configuration.oifde.authMode)
    }

    /// A broker connection named after the tool, so the broker's tools show who it is.
    public func connect(as tool: String) async throws(OperatorError) -> AMQPConnection {
        let addresses: [AMQPConfiguration]
        do { addresses = try configuration.amqp.connections(role: tool) } catch { throw OperatorError(.configuration, "amqp.url: \(error)") }
        // The first broker of the list that answers.
        var failures: [String] = []
        var refused = false
        for address in addresses {
            do { return try await AMQPConnection.connect(address) } catch {
                failures.append("\(address): \(error)")
                if case AMQPError.loginRefused = error { refused = true }
            }
        }
        // A refused login is the configuration's fault and will not heal by waiting; anything else
        // (refused connection, timeout, lost handshake) may: EX_TEMPFAIL, so a batch job can retry.
        throw OperatorError(refused ? .configuration : .unavailable, failures.joined(separator: "; "))
    }
}
