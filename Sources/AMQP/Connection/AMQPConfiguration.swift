/// Everything needed to open a connection. Build it from a URL with ``init(url:)``.
public struct AMQPConfiguration: Sendable, Hashable {
    /// TLS for `amqps://` connections.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the certificate authorities to trust. librabbitmq 0.11 has no default trust
        /// store, so without one a verifying connection fails.
        public var caFile: String?
        /// PEM client certificate and key, for brokers that require mutual TLS.
        public var certFile: String?
        /// The client certificate's key (PEM); goes with `certFile`.
        public var keyFile: String?
        /// Verify the broker's certificate chain and host name. On by default; turning it off
        /// exposes credentials to anyone on the path.
        public var verifyPeer: Bool

        /// TLS settings; `certFile` and `keyFile` go together, for mutual TLS.
        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.verifyPeer = verifyPeer
        }
    }

    /// The broker's host name; with TLS, the name its certificate must carry (librabbitmq 0.11 checks DNS names only).
    public var host: String
    /// The broker's port: 5672 for `amqp://`, 5671 for `amqps://` unless the URL names one.
    public var port: Int
    /// The login user.
    public var user: String
    /// The login password; never shown by `description`.
    public var password: String
    /// The virtual host (`/` for the URL's `%2f`).
    public var virtualHost: String
    /// `nil` for plain TCP.
    public var tls: TLS?
    /// Heartbeat interval in seconds the client asks for; 0 disables heartbeats (not advised).
    public var heartbeatSeconds: Int
    /// Shown by the broker's management tools (`connection_name` client property).
    public var connectionName: String?
    /// Bound on TCP connect, TLS and login.
    public var connectTimeoutSeconds: Int
    /// Bound on every synchronous request (declare, bind, qos, close...).
    public var rpcTimeoutSeconds: Int

    /// Settings for one connection; ``init(url:)`` reads them from an `amqp://` or `amqps://` URL.
    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        user: String = "guest",
        password: String = "guest",
        virtualHost: String = "/",
        tls: TLS? = nil,
        heartbeatSeconds: Int = 30,
        connectionName: String? = nil,
        connectTimeoutSeconds: Int = 10,
        rpcTimeoutSeconds: Int = 30
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.tls = tls
        self.heartbeatSeconds = heartbeatSeconds
        self.connectionName = connectionName
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.rpcTimeoutSeconds = rpcTimeoutSeconds
    }

    /// Parses a URL that may name several brokers of one cluster,
    /// `amqp://user:pass@h1:5672,h2:5672,h3/vhost`: one configuration per host, in order, sharing
    /// the credentials and virtual host. A single-host URL gives one.
    ///
    /// - Throws: ``AMQPError/invalidURL(_:)`` naming the problem, never echoing the password.
    public static func cluster(url: String) throws -> [AMQPConfiguration] {
        let scheme = url.hasPrefix("amqps://") ? "amqps://" : url.hasPrefix("amqp://") ? "amqp://" : nil
        guard let scheme else { return [try AMQPConfiguration(url: url)] }
        let rest = url.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        let userInfo = authority.lastIndex(of: "@").map { String(authority[...$0]) } ?? ""
        let hosts = authority[(authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex)...]
        let parts = hosts.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return [try AMQPConfiguration(url: url)] }
        guard !parts.contains(where: \.isEmpty) else { throw AMQPError.invalidURL("an empty host in the list of hosts") }
        let prefix = scheme + userInfo
        let path = String(rest[authorityEnd...])
        return try parts.map { try AMQPConfiguration(url: prefix + $0 + path) }
    }

    /// Parses `amqp://user:pass@host:port/vhost` or `amqps://…`.
    ///
    /// User, password and virtual host are percent-decoded (`%2f` is the default vhost `/`). An empty
    /// path means vhost `/`. Default ports are 5672 and 5671. For `amqps`, ``tls`` is set with peer
    /// verification on; set its CA file afterwards.
    ///
    /// - Throws: ``AMQPError/invalidURL(_:)`` naming the problem, never echoing the password.
    public init(url: String) throws {
        self.init()
        let scheme: String
        let rest: Substring
        if url.hasPrefix("amqp://") {
            scheme = "amqp"
            rest = url.dropFirst("amqp://".count)
        } else if url.hasPrefix("amqps://") {
            scheme = "amqps"
            rest = url.dropFirst("amqps://".count)
        } else {
            throw AMQPError.invalidURL("the scheme must be amqp:// or amqps://")
        }
        if rest.contains("?") || rest.contains("#") {
            throw AMQPError.invalidURL("query parameters and fragments are not supported")
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        let path = authorityEnd < rest.endIndex ? rest[rest.index(after: authorityEnd)...] : ""

        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[authority.startIndex..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.percentDecoded(userInfo[userInfo.startIndex..<colon], what: "user")
                password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                user = try Self.percentDecoded(userInfo, what: "user")
            }
        }
        port = scheme == "amqps" ? 5671 : 5672
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw AMQPError.invalidURL("an IPv6 host needs a closing ]")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let afterHost = hostPort[hostPort.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else { throw AMQPError.invalidURL("unexpected text after the host") }
                port = try Self.port(afterHost.dropFirst())
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[hostPort.startIndex..<colon])
            port = try Self.port(hostPort[hostPort.index(after: colon)...])
        } else {
            host = String(hostPort)
        }
        if host.isEmpty { throw AMQPError.invalidURL("the host is missing") }
        if path.contains("/") {
            throw AMQPError.invalidURL("the virtual host must be one path segment; write / as %2f")
        }
        virtualHost = path.isEmpty ? "/" : try Self.percentDecoded(path, what: "virtual host")
        tls = scheme == "amqps" ? TLS() : nil
    }

    private static func port(_ text: Substring) throws -> Int {
        guard let value = Int(text), (1...65535).contains(value) else {
            throw AMQPError.invalidURL("the port must be a number from 1 to 65535")
        }
        return value
    }

    private static func percentDecoded(_ text: Substring, what: String) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw AMQPError.invalidURL("bad percent-encoding in the \(what)")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw AMQPError.invalidURL("the \(what) is not valid UTF-8 once decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension AMQPConfiguration: CustomStringConvertible {
    /// The URL with the password masked, safe for logs.
    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost == "/" ? "%2f" : virtualHost
        return "\(scheme)://\(user):***@\(host):\(port)/\(vhost)"
    }
}
