import AMQP
import WorkModeDomain

/// The daemon's configuration, typed and validated (CONTRACT.md section 8). Defaults are the
/// contract's.
public struct GatewayConfiguration: Sendable {
    public struct AMQPSection: Sendable {
        public var url = "amqp://guest:guest@127.0.0.1:5672/%2f"
        public var heartbeat: Duration = .seconds(30)
        public var prefetch = 512
        public var connectionName = "workmode-gateway"
        public var tls = TLS()

        public struct TLS: Sendable {
            public var caFile: String?
            public var certFile: String?
            public var keyFile: String?
            public var verifyPeer = true
        }

        /// The connection settings for librabbitmq, with TLS applied for `amqps://`.
        public func connection(role: String) throws -> AMQPConfiguration {
            var configuration = try AMQPConfiguration(url: url)
            configuration.heartbeatSeconds = Int(heartbeat.timeInterval.rounded())
            configuration.connectionName = "\(connectionName) \(role)"
            if configuration.tls != nil {
                configuration.tls = .init(caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile, verifyPeer: tls.verifyPeer)
            }
            return configuration
        }
    }

    public struct TopologySection: Sendable {
        public var declare = true
        public var commandsExchange = "workmode.commands"
        public var commandsQueue = "workmode.commands"
        public var commandsRoutingKey = "change"
        public var resultsExchange = "workmode.results"
        public var deadLetterExchange = "workmode.dead"
        public var deadLetterQueue = "workmode.dead"
        public var deliveryLimit = 20
    }

    public struct OIFDESection: Sendable {
        public struct TLS: Sendable {
            /// PEM bundle of the certificate authorities to trust instead of the system store.
            public var caFile: String?
            /// Verify OIFDE's certificate and host name.
            public var verifyPeer = true
        }

        public var baseURL = "https://127.0.0.1:18443"
        public var timeout: Duration = .seconds(5)
        public var tls = TLS()
        public var authMode: CommandDecoder.AuthMode = .token
        public var tenants: [String: Secret] = [:]
    }

    /// A tenant's API password, kept out of every description and log line.
    public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        private let value: String
        /// Defaults of section 8; the loader sets what the file and environment say.
        public init(_ value: String) { self.value = value }
        public var description: String { "<secret>" }
        public var debugDescription: String { "<secret>" }
        /// The password itself: only for handing it to the OIFDE client.
        public func reveal() -> String { value }
    }

    public struct PipelineSection: Sendable {
        public var maxInFlight = 256
        public var maxMessageBytes = 65536
    }

    public struct RetrySection: Sendable {
        public var maxAttempts = 5
        /// The ceiling after the first failed attempt (`retry.initialBackoff`).
        public var initialBackoff: Duration = .milliseconds(200)
        public var maxBackoff: Duration = .seconds(5)
        public var deadline: Duration = .seconds(120)
    }

    public struct DedupeSection: Sendable {
        public var path = "./data/completions.journal"
        public var capacity = 100_000
        public var ttl: Duration = .seconds(600)
    }

    public struct LogSection: Sendable {
        public var level = "info"
        public var format = "json"
    }

    public var amqp = AMQPSection()
    public var topology = TopologySection()
    public var oifde = OIFDESection()
    public var pipeline = PipelineSection()
    public var retry = RetrySection()
    public var dedupe = DedupeSection()
    public var drainTimeout: Duration = .seconds(15)
    public var adminListen = ListenAddress(host: "127.0.0.1", port: 9090)
    public var log = LogSection()

    /// Every default of the contract.
    public init() {}
}
