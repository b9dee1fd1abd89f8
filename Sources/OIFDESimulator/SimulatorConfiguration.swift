/// How the simulator behaves (the `simulate` command's options).
public struct SimulatorConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    /// 0 picks a free port; ``OIFDESimulator/run(onListening:)`` reports the real one.
    public var port: Int
    /// PEM files; both set means HTTPS.
    public var tlsCertificateFile: String?
    /// The TLS key (with `tlsCertificateFile`).
    public var tlsKeyFile: String?
    /// tenantId → API password, for `gettoken`.
    public var tenants: [String: String]
    /// `expireTime` of the tokens it issues.
    public var tokenTTLSeconds: Int
    /// An unknown session starts in supervision instead of being refused.
    public var autoSessions: Bool
    /// Added to every answer.
    public var latency: Duration
    /// The request log keeps at most this many entries (oldest dropped).
    public var requestLogCapacity: Int

    /// A simulator for `tenants` (tenantId → appSecret) on a port chosen by the system unless set.
    public init(
        host: String = "127.0.0.1", port: Int = 18443, tlsCertificateFile: String? = nil, tlsKeyFile: String? = nil,
        tenants: [String: String] = [:], tokenTTLSeconds: Int = 3600, autoSessions: Bool = false, latency: Duration = .zero,
        requestLogCapacity: Int = 1_000_000
    ) {
        self.host = host
        self.port = port
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.tenants = tenants
        self.tokenTTLSeconds = tokenTTLSeconds
        self.autoSessions = autoSessions
        self.latency = latency
        self.requestLogCapacity = requestLogCapacity
    }
}
