import WorkModeDomain

/// Where OIFDE is and how to authenticate (the `oifde` section of the configuration).
public struct OIFDEConfiguration: Sendable {
    /// How OIFDE's certificate is checked.
    public struct TLS: Sendable {
        /// PEM bundle of the certificate authorities to trust instead of the system store
        /// (OIFDE deployments often use a private CA).
        public var caFile: String?
        /// Verify the server certificate and host name. Turning it off is possible only here, and
        /// the client logs a warning when it starts.
        public var verifyPeer: Bool
        /// The client certificate chain (PEM) for a mutual-TLS OIFDE; with `keyFile`.
        public var certFile: String?
        /// The client certificate's private key (PEM).
        public var keyFile: String?
        /// The oldest TLS version accepted: 1.2 (the default) or 1.3. NIOSSL's own default allows
        /// 1.0, which an appSecret must never travel over.
        public var minimumVersion: MinimumVersion

        /// TLS versions the gateway can be told to require.
        public enum MinimumVersion: String, Sendable, CaseIterable {
            case tls12 = "1.2"
            case tls13 = "1.3"
        }

        /// Trust `caFile` (else the system store), verify the peer unless told not to, require TLS 1.2 or newer.
        public init(
            caFile: String? = nil, verifyPeer: Bool = true, certFile: String? = nil, keyFile: String? = nil, minimumVersion: MinimumVersion = .tls12
        ) {
            self.caFile = caFile
            self.verifyPeer = verifyPeer
            self.certFile = certFile
            self.keyFile = keyFile
            self.minimumVersion = minimumVersion
        }
    }

    /// A tenant's API password, kept out of every description and log line.
    public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        let value: String
        /// Wraps a password so that no description, log line or error can show it.
        public init(_ value: String) { self.value = value }
        /// Always `<secret>`.
        public var description: String { "<secret>" }
        /// Always `<secret>`.
        public var debugDescription: String { "<secret>" }
    }

    /// e.g. `https://127.0.0.1:18443`; the interface paths are appended.
    public var baseURL: String
    /// Bound on one HTTP exchange, connect included.
    public var timeout: Duration
    /// A keep-alive connection unused this long is closed (zero: none is kept).
    public var idleTimeout: Duration
    /// Trust for OIFDE's certificate.
    public var tls: TLS
    /// Who provides tokens: the gateway (`token`) or each command (`passthrough`).
    public var authMode: CommandDecoder.AuthMode
    /// tenantId → appSecret, for token mode.
    public var tenants: [String: Secret]
    /// Keep-alive connections to OIFDE at most (HTTP/1.1).
    public var maxConnections: Int
    /// Response bodies larger than this are an error, not a crash.
    public var maxResponseBytes: Int
    /// The HTTP proxy toward OIFDE, when there is one (already decided for OIFDE's host).
    public var proxy: ProxySettings?
    /// A span per HTTP request (the process's tracer), which also carries the trace context to
    /// OIFDE; off, the command's own `traceparent` is forwarded as it came.
    public var tracing: Bool

    /// The client's settings; `maxConnections` bounds the keep-alive pool per host.
    public init(
        baseURL: String = "https://127.0.0.1:18443", timeout: Duration = .seconds(5), idleTimeout: Duration = .seconds(20), tls: TLS = TLS(),
        authMode: CommandDecoder.AuthMode = .token, tenants: [String: Secret] = [:], maxConnections: Int = 64,
        maxResponseBytes: Int = 64 * 1024, tracing: Bool = false, proxy: ProxySettings? = nil
    ) {
        self.proxy = proxy
        self.tracing = tracing
        self.baseURL = baseURL
        self.timeout = timeout
        self.idleTimeout = idleTimeout
        self.tls = tls
        self.authMode = authMode
        self.tenants = tenants
        self.maxConnections = maxConnections
        self.maxResponseBytes = maxResponseBytes
    }
}
