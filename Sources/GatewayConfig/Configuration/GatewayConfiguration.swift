import AMQP
import WorkModeDomain

/// The daemon's configuration, typed and validated (docs/contract.md section 8). Defaults are the
/// contract's.
public struct GatewayConfiguration: Sendable {
    /// The `amqp` section.
    public struct AMQPSection: Sendable {
        /// `amqp.url`: the broker, `amqp://` or `amqps://`.
        public var url = "amqp://guest:guest@127.0.0.1:5672/%2f"
        /// `amqp.heartbeat`: how often each side proves it is alive.
        public var heartbeat: Duration = .seconds(30)
        /// `amqp.prefetch`: unacked deliveries the broker sends ahead.
        public var prefetch = 512
        /// `amqp.connectionName`: shown by the broker's tools (with `-consumer` or `-publisher`).
        public var connectionName = "workmode-gateway"
        /// `amqp.tls`.
        public var tls = TLS()

        /// `amqp.tls`: trust and client certificate for `amqps://`.
        public struct TLS: Sendable {
            /// `amqp.tls.caFile`: the CA bundle to trust (librabbitmq 0.11 has no default store).
            public var caFile: String?
            /// `amqp.tls.certFile`: a client certificate, for mutual TLS.
            public var certFile: String?
            /// `amqp.tls.keyFile`: its key.
            public var keyFile: String?
            /// `amqp.tls.verifyPeer`: check the broker's certificate and name.
            public var verifyPeer = true
        }

        /// The connection settings for librabbitmq, with TLS applied for `amqps://`: one per broker
        /// address the URL names (`amqp://u:p@h1,h2,h3/vhost`), to be tried in turn.
        public func connections(role: String) throws -> [AMQPConfiguration] {
            try AMQPConfiguration.cluster(url: url).map { parsed in
                var configuration = parsed
                configuration.heartbeatSeconds = Int(heartbeat.timeInterval.rounded())
                configuration.connectionName = "\(connectionName) \(role)"
                if configuration.tls != nil {
                    configuration.tls = .init(caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile, verifyPeer: tls.verifyPeer)
                }
                return configuration
            }
        }
    }

    /// The `topology` section: names and limits of docs/contract.md section 7.
    public struct TopologySection: Sendable {
        /// `topology.declare`: declare at start (else check passively).
        public var declare = true
        /// `topology.commandsExchange`.
        public var commandsExchange = "workmode.commands"
        /// `topology.commandsQueue`.
        public var commandsQueue = "workmode.commands"
        /// `topology.commandsRoutingKey`.
        public var commandsRoutingKey = "change"
        /// `topology.resultsExchange`.
        public var resultsExchange = "workmode.results"
        /// `topology.deadLetterExchange`.
        public var deadLetterExchange = "workmode.dead"
        /// `topology.deadLetterQueue`.
        public var deadLetterQueue = "workmode.dead"
        /// `topology.deliveryLimit`: the commands queue's `x-delivery-limit`.
        public var deliveryLimit = 20
        /// `topology.deadLetterRetention`: how long the dead-letter stream keeps a letter
        /// (`x-max-age`); its settlement records are kept as long.
        public var deadLetterRetention: Duration = .seconds(30 * 86_400)
        /// `topology.deadLetterWatchInterval`: how often the daemon reads the open dead letters for
        /// `wmg_dead_letters_open` and `wmg_dead_letters_oldest_age_seconds` (0s: never).
        public var deadLetterWatchInterval: Duration = .seconds(60)
        /// `topology.deadLetterMaxBytes`: the most the dead-letter stream holds on disk
        /// (`x-max-length-bytes`); past it the oldest letters go first.
        public var deadLetterMaxBytes = 10_000_000_000
        /// `topology.singleActiveConsumer`: declare the commands queue with
        /// `x-single-active-consumer`, so replicas on it keep per-call order.
        public var singleActiveConsumer = false
        /// `topology.partitions`: 0 for the single commands queue; K for K queues behind a
        /// consistent-hash exchange on `x-call-key` (docs/contract.md section 11).
        public var partitions = 0
    }

    /// The `replicas` section: how partitions are shared among the replicas.
    public struct ReplicasSection: Sendable {
        /// `replicas.count`: how many replicas run.
        public var count = 1
        /// `replicas.ordinal`: this replica's number, 0 ..< count.
        public var ordinal = 0
        /// `replicas.standbyDelay`: how long a replica waits before it subscribes, as a standby,
        /// to the partitions that are not its own.
        public var standbyDelay: Duration = .seconds(5)

        /// Partitions of `total` this replica subscribes to at once: `p mod count == ordinal`.
        public func ownPartitions(of total: Int) -> [Int] { (0..<total).filter { $0 % count == ordinal } }
        /// The others, to which it subscribes after ``standbyDelay``.
        public func standbyPartitions(of total: Int) -> [Int] { (0..<total).filter { $0 % count != ordinal } }
    }

    /// The `oifde` section.
    public struct OIFDESection: Sendable {
        /// `oifde.tls`: trust for OIFDE's certificate.
        public struct TLS: Sendable {
            /// PEM bundle of the certificate authorities to trust instead of the system store.
            public var caFile: String?
            /// Verify OIFDE's certificate and host name.
            public var verifyPeer = true
            /// `oifde.tls.certFile`: a client certificate chain (PEM) for mutual TLS.
            public var certFile: String?
            /// `oifde.tls.keyFile`: its private key (PEM).
            public var keyFile: String?
            /// `oifde.tls.minimumVersion`: `1.2` (default) or `1.3`.
            public var minimumVersion = "1.2"
        }

        /// `oifde.baseURL`: where OIFDE is; the interface paths are appended.
        public var baseURL = "https://127.0.0.1:18443"
        /// `oifde.timeout`: bound on one exchange, connect to last byte.
        public var timeout: Duration = .seconds(5)
        /// `oifde.idleTimeout`: a keep-alive connection unused this long is closed, before a load
        /// balancer or OIFDE cuts it (a request written to a cut connection is lost time); `0s`
        /// closes each connection after its answer.
        public var idleTimeout: Duration = .seconds(20)
        /// `oifde.tls`.
        public var tls = TLS()
        /// `oifde.proxy` (or `HTTPS_PROXY`/`HTTP_PROXY` and `NO_PROXY`): nil for a direct connection.
        public var proxy: ProxyConfiguration?
        /// `oifde.auth.mode`: `token` (the gateway fetches tokens) or `passthrough`.
        public var authMode: CommandDecoder.AuthMode = .token
        /// `oifde.auth.tenants`: tenantId to appSecret.
        public var tenants: [String: Secret] = [:]
        /// `oifde.auth.tenants.<id>.rateLimit`: requests per second; tenants without one are not limited.
        public var rateLimits: [String: Double] = [:]
    }

    /// A tenant's API password, kept out of every description and log line.
    public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        private let value: String
        /// Defaults of section 8; the loader sets what the file and environment say.
        public init(_ value: String) { self.value = value }
        /// Always `<secret>`.
        public var description: String { "<secret>" }
        /// Always `<secret>`.
        public var debugDescription: String { "<secret>" }
        /// The password itself: only for handing it to the OIFDE client.
        public func reveal() -> String { value }
    }

    /// The `pipeline` section.
    public struct PipelineSection: Sendable {
        /// `pipeline.maxInFlight`: commands talking to OIFDE at once.
        public var maxInFlight = 256
        /// `pipeline.maxMessageBytes`: the largest command body accepted.
        public var maxMessageBytes = 65536
        /// `pipeline.adaptive`: move the in-flight limit by AIMD between `minInFlight` and `maxInFlight`.
        public var adaptive = false
        /// `pipeline.minInFlight`: the adaptive limit's floor.
        public var minInFlight = 4
        /// `pipeline.latencyTarget`: the p90 latency under which the adaptive limit grows.
        public var latencyTarget: Duration = .milliseconds(500)
        /// `pipeline.batchShare`: the share of running slots batch commands keep while live ones wait.
        public var batchShare = 0.5
    }

    /// The `breaker` section: the circuit breaker over OIFDE requests.
    public struct BreakerSection: Sendable {
        /// `breaker.enabled`.
        public var enabled = true
        /// `breaker.failureRate`: the share of failed requests in the window that opens it.
        public var failureRate = 0.5
        /// `breaker.minimumRequests`: requests the window must hold first.
        public var minimumRequests = 20
        /// `breaker.window`: how far back it looks.
        public var window: Duration = .seconds(10)
        /// `breaker.openFor`: the first open period.
        public var openFor: Duration = .seconds(2)
        /// `breaker.maxOpenFor`: the longest open period.
        public var maxOpenFor: Duration = .seconds(60)
    }

    /// The `retry` section.
    public struct RetrySection: Sendable {
        /// `retry.maxAttempts`: attempts before a command ends `failed`.
        public var maxAttempts = 5
        /// The ceiling after the first failed attempt (`retry.initialBackoff`).
        public var initialBackoff: Duration = .milliseconds(200)
        /// `retry.maxBackoff`: the longest wait between attempts.
        public var maxBackoff: Duration = .seconds(5)
        /// `retry.deadline`: a command's life from its timestamp or receipt.
        public var deadline: Duration = .seconds(120)
    }

    /// The `dedupe` section: the completion journal.
    public struct DedupeSection: Sendable {
        /// `dedupe.path`: the journal file.
        public var path = "./data/completions.journal"
        /// `dedupe.capacity`: commands remembered at most.
        public var capacity = 100_000
        /// `dedupe.ttl`: how long a command is remembered.
        public var ttl: Duration = .seconds(600)
    }

    /// The `log` section.
    public struct LogSection: Sendable {
        /// `log.level`: `trace` … `critical`.
        public var level = "info"
        /// `log.format`: `json` or `text`.
        public var format = "json"
    }

    /// `amqp.*`.
    public var amqp = AMQPSection()
    /// `topology.*`.
    public var topology = TopologySection()
    /// `replicas.*`.
    public var replicas = ReplicasSection()
    /// `oifde.*`.
    public var oifde = OIFDESection()
    /// `pipeline.*`.
    public var pipeline = PipelineSection()
    /// `retry.*`.
    public var retry = RetrySection()
    /// `breaker.*`.
    public var breaker = BreakerSection()
    /// `dedupe.*`.
    public var dedupe = DedupeSection()
    /// `shutdown.drainTimeout`: how long a stop lets commands in flight finish.
    public var drainTimeout: Duration = .seconds(15)
    /// `admin.listen`: the admin listener's address.
    public var adminListen = ListenAddress(host: "127.0.0.1", port: 9090)
    /// `admin.token` or `admin.tokenFile`: what the dead-letter console and its API require.
    public var adminToken: Secret?
    /// `log.*`.
    public var log = LogSection()
    /// `results.*`.
    public var results = ResultsSection()
    /// `tracing.*`.
    public var tracing = TracingSection()

    /// The `tracing` section: OpenTelemetry traces, off unless an endpoint is set.
    public struct TracingSection: Sendable {
        /// `tracing.otlp.endpoint`: the OTLP/HTTP traces URL (used as it is, `/v1/traces` included);
        /// nil turns tracing off.
        public var otlpEndpoint: String?
    }

    /// The `results` section: how result events are written.
    public struct ResultsSection: Sendable {
        /// `results.format`: `native` (the contract's event) or `cloudevents` (CloudEvents 1.0, structured mode).
        public var format = "native"
        /// `results.source`: the CloudEvents `source` attribute (a URI reference).
        public var source = "/workmode-gateway"
    }

    /// Every default of the contract.
    public init() {}
}
