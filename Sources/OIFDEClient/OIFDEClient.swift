import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Tracing
import WorkModeDomain

/// Sends `changeWorkMode` to OIFDE over HTTP/1.1 keep-alive with a bounded pool, and manages the
/// tokens it needs. Never lets a token or secret reach a log line, an error or a result.
public final class OIFDEClient: Sendable {
    /// A configuration the client cannot start with.
    public enum SetupError: Error, CustomStringConvertible {
        case invalidBaseURL(String)
        case caFile(String)
        case clientCertificate(String, String)
        /// One line naming the key and the problem.
        public var description: String {
            switch self {
            case .invalidBaseURL(let url): return "oifde.baseURL is not an http(s) URL: \(url)"
            case .caFile(let path): return "oifde.tls.caFile cannot be read as PEM certificates: \(path)"
            case .clientCertificate(let cert, let key):
                return "oifde.tls.certFile and oifde.tls.keyFile must be a PEM certificate chain and its PEM private key: \(cert), \(key)"
            }
        }
    }

    /// The settings it was made with.
    public let configuration: OIFDEConfiguration
    private let pool: HTTPConnectionPool
    private let tokens = TokenCache()
    private let logger: Logger
    private let hostHeader: String
    private let changeWorkModePath: String
    private let getTokenPath: String

    /// A client with its own connection pool. Throws ``SetupError`` for a base URL that is not http(s) or a CA file that cannot be read.
    public init(configuration: OIFDEConfiguration, logger: Logger) throws {
        let base = configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        guard base.hasPrefix("https://") || base.hasPrefix("http://"), URL(string: base)?.host != nil else {
            throw SetupError.invalidBaseURL(base)
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = configuration.tls.caFile {
            guard let certificates = try? NIOSSLCertificate.fromPEMFile(caFile), !certificates.isEmpty else {
                throw SetupError.caFile(caFile)
            }
            tls.trustRoots = .certificates(certificates)
        }
        tls.minimumTLSVersion = configuration.tls.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        if let certFile = configuration.tls.certFile {
            guard let keyFile = configuration.tls.keyFile,
                let chain = try? NIOSSLCertificate.fromPEMFile(certFile), !chain.isEmpty,
                let key = try? NIOSSLPrivateKey(file: keyFile, format: .pem)
            else {
                throw SetupError.clientCertificate(certFile, configuration.tls.keyFile ?? "(no oifde.tls.keyFile)")
            }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
        }
        if !configuration.tls.verifyPeer {
            tls.certificateVerification = .none
        }
        guard let url = URL(string: base), let host = url.host, !host.isEmpty else { throw SetupError.invalidBaseURL(base) }
        let secure = base.hasPrefix("https://")
        let context: NIOSSLContext?
        do {
            context = secure ? try NIOSSLContext(configuration: tls) : nil
        } catch {
            throw SetupError.caFile(configuration.tls.caFile ?? "(the system trust store)")
        }
        self.pool = HTTPConnectionPool(
            target: .init(host: host, port: url.port ?? (secure ? 443 : 80), tls: context, proxy: configuration.proxy),
            maxConnections: configuration.maxConnections, idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.timeInterval * 1e9)),
            maxResponseBytes: configuration.maxResponseBytes,
            group: MultiThreadedEventLoopGroup.singleton)
        let defaultPort = url.port == nil || url.port == (secure ? 443 : 80)
        self.hostHeader = defaultPort ? host : "\(host):\(url.port ?? 0)"
        self.changeWorkModePath = url.path + "/oifde/rest/api/flow/changeWorkMode"
        self.getTokenPath = url.path + "/oifde/rest/api/gettoken"
        self.configuration = configuration
        self.logger = logger
    }

    /// The connection pool now, for the gateway's metrics.
    public var connections: ConnectionStatistics { pool.statistics }

    /// Closes the connection pool. Call once, before the process ends.
    public func shutdown() async throws { pool.shutdown() }

    /// One `gettoken` for `tenant` outside the cache (`config check --connect`): nil when OIFDE handed
    /// out a token, else why not (never the secret or the token).
    public func probeToken(tenant: String) async -> TokenFailure? {
        guard let secret = configuration.tenants[tenant] else {
            return TokenFailure(.noToken(errorCode: nil, problem: "because no appSecret is configured for tenant \(tenant)"))
        }
        switch await requestToken(tenant: tenant, secret: secret) {
        case .token: return nil
        case .failed(let failure): return failure
        }
    }

    /// How many `gettoken` requests this client made for `tenant`.
    public func tokenFetches(for tenant: String) async -> Int { tokens.fetches(for: tenant) }

    /// One attempt: obtains a token (token mode), sends the command, and when OIFDE refuses the token
    /// (900001/900002) fetches a new one and sends again at once, once.
    ///
    /// - Parameter deadline: the command's deadline. Each exchange (gettoken, changeWorkMode) is
    ///   bounded by `oifde.timeout` from connect to the last byte of the answer, and never runs past
    ///   the deadline.
    public func changeWorkMode(
        _ command: WorkModeCommand, commandId: String, traceparent: String? = nil, deadline: ContinuousClock.Instant? = nil
    ) async -> OIFDEAttempt {
        let started = ContinuousClock.now
        func finish(_ exchange: OIFDEAttempt.Exchange, refreshed: Bool) -> OIFDEAttempt {
            OIFDEAttempt(exchange: exchange, duration: ContinuousClock.now - started, refreshedToken: refreshed)
        }
        switch configuration.authMode {
        case .passthrough:
            guard let token = command.authToken else {
                return finish(.notSent(reason: "the command carries no authToken"), refreshed: false)
            }
            let result = await send(command, token: token, commandId: commandId, traceparent: traceparent, deadline: deadline)
            // The publisher owns this token; the gateway cannot renew it, so a refusal is final.
            if AttemptClassifier.classify(result) == .refreshTokenAndRetry {
                return finish(
                    .answeredButRefused(result, .rejected(reason: "OIFDE refused the command's own token: errorCode \(result.errorCode ?? "")")),
                    refreshed: false
                )
            }
            return finish(.answered(result), refreshed: false)
        case .token:
            guard let secret = configuration.tenants[command.tenantId] else {
                return finish(.notSent(reason: "no appSecret is configured for tenant \(command.tenantId)"), refreshed: false)
            }
            var refreshed = false
            while true {
                let token: String
                switch await tokens.token(
                    for: command.tenantId,
                    fetch: { [self] in
                        await self.fetchToken(tenant: command.tenantId, secret: secret)
                    })
                {
                case .token(let value, _): token = value
                case .failed(let failure): return finish(.tokenFailed(failure), refreshed: refreshed)
                }
                let result = await send(command, token: token, commandId: commandId, traceparent: traceparent, deadline: deadline)
                // One renewal per attempt; a second refusal is the attempt's answer.
                guard !refreshed, AttemptClassifier.classify(result) == .refreshTokenAndRetry else {
                    return finish(.answered(result), refreshed: refreshed)
                }
                tokens.invalidate(tenant: command.tenantId, token: token)
                refreshed = true
                // Tenants are the configured ones only (token mode), so the label stays bounded.
                Counter(label: "wmg_token_refreshes_total", dimensions: [("tenant", command.tenantId)]).increment()
                logger.info(
                    "OIFDE refused the token; fetching a new one",
                    metadata: ["tenant": "\(command.tenantId)", "errorCode": "\(result.errorCode ?? "")"])
            }
        }
    }

    // MARK: - HTTP

    private func send(
        _ command: WorkModeCommand, token: String, commandId: String, traceparent: String?, deadline: ContinuousClock.Instant?
    ) async -> AttemptResult {
        var headers: HTTPHeaders = ["Content-Type": "application/json; charset=UTF-8", "X-Command-Id": commandId]
        // With tracing on, the HTTP span's context goes out instead (a child of the command's).
        if let traceparent, !configuration.tracing { headers.add(name: "traceparent", value: traceparent) }
        let body = OIFDERequestBody.encode(command, authToken: token)
        var outcome = await exchange(changeWorkModePath, headers: headers, body: body, deadline: deadline)
        // Provably not sent on a connection that had gone away (the server closed it while idle):
        // at once once more, on a fresh one. Not for a refused connection or a spent time limit.
        if case .failure(let error) = outcome, error == .closedBeforeSending {
            outcome = await exchange(changeWorkModePath, headers: headers, body: body, deadline: deadline)
        }
        switch outcome {
        case .failure(let error):
            var result = AttemptResult(transportError: TransportErrorMapping.kind(of: error))
            if case .proxyRefused(let status) = error { result.proxyStatus = status }
            return result
        case .success(let response):
            let base = AttemptResult(httpStatus: response.status, retryAfter: response.retryAfter, location: response.location)
            switch decoded(response) {
            case .failure(let problem):
                var result = base
                // A 2xx must carry the documented JSON; other statuses speak for themselves.
                if (200...299).contains(response.status) { result.bodyProblem = problem.text }
                return result
            case .success(let answer):
                var result = base
                result.errorCode = answer.errorCode
                result.errorMsg = answer.errorMsg
                return result
            }
        }
    }

    /// The answer's JSON, or what is wrong with its body ("no content" for a 204).
    private func decoded(_ response: Answer) -> Result<ResponseDecoding.Answer, ResponseDecoding.BodyProblem> {
        if response.oversized { return .failure(ResponseDecoding.BodyProblem("a body over \(configuration.maxResponseBytes) bytes")) }
        if response.status == 204 { return .failure(ResponseDecoding.BodyProblem("no content")) }
        return ResponseDecoding.decode(response.body)
    }

    typealias Answer = HTTPAnswer

    /// One exchange, bounded from connect to the last byte by `oifde.timeout` and the deadline.
    /// With tracing on, it is a client span of its own whose context goes to OIFDE as `traceparent`.
    private func exchange(
        _ path: String, headers: HTTPHeaders, body: [UInt8], deadline: ContinuousClock.Instant?
    ) async -> Result<Answer, HTTPExchangeError> {
        let limit = deadline.map { min(configuration.timeout, max(.milliseconds(1), $0 - ContinuousClock.now)) } ?? configuration.timeout
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        head.headers.add(name: "Host", value: hostHeader)
        head.headers.add(name: "Content-Length", value: String(body.count))
        let poolDeadline = NIODeadline.now() + TimeAmount.nanoseconds(Int64(limit.timeInterval * 1e9))
        guard configuration.tracing else {
            return await pool.execute(head, body: body, deadline: poolDeadline)
        }
        return await withSpan("POST", ofKind: .client) { span in
            span.attributes["http.request.method"] = "POST"
            span.attributes["url.path"] = path
            InstrumentationSystem.instrument.inject(span.context, into: &head.headers, using: HTTPHeadersInjector())
            let result = await pool.execute(head, body: body, deadline: poolDeadline)
            switch result {
            case .success(let answer):
                span.attributes["http.response.status_code"] = answer.status
                if answer.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
            case .failure(let error):
                span.setStatus(SpanStatus(code: .error, message: TransportErrorMapping.kind(of: error).rawValue))
            }
            return result
        }
    }

    /// `gettoken` with the tenant's appKey (its ID) and appSecret.
    private func fetchToken(tenant: String, secret: OIFDEConfiguration.Secret) async -> TokenCache.Fetch {
        let fetch = await requestToken(tenant: tenant, secret: secret)
        let result: String
        switch fetch {
        case .token: result = "ok"
        case .failed: result = "failed"
        }
        Counter(label: "wmg_token_fetches_total", dimensions: [("tenant", tenant), ("result", result)]).increment()
        return fetch
    }

    private func requestToken(tenant: String, secret: OIFDEConfiguration.Secret) async -> TokenCache.Fetch {
        var body = JSONWriter(capacity: 128)
        body.beginObject()
        body.member("appKey", tenant)
        body.member("appSecret", secret.value)
        body.endObject()
        // Shared by every command of the tenant that waits for it (single flight), so bounded by
        // oifde.timeout only, not by one command's deadline.
        let failure: TokenFailure
        switch await exchange(getTokenPath, headers: ["Content-Type": "application/json; charset=UTF-8"], body: body.bytes, deadline: nil) {
        case .failure(let error):
            failure = TokenFailure(.transport(TransportErrorMapping.kind(of: error)))
            if case .proxyRefused(let status) = error {
                logger.warning("the HTTP proxy refused the tunnel to OIFDE for gettoken", metadata: ["proxyStatus": "\(status)"])
            }
        case .success(let response):
            switch decoded(response) {
            case .failure(let problem):
                failure =
                    (200...299).contains(response.status)
                    ? TokenFailure(.unreadable(status: response.status, problem: problem.text))
                    : TokenFailure(.httpStatus(response.status, errorCode: nil, errorMsg: nil))
            case .success(let answer):
                if !(200...299).contains(response.status) {
                    failure = TokenFailure(.httpStatus(response.status, errorCode: answer.errorCode, errorMsg: answer.errorMsg))
                } else if let code = answer.errorCode, code != "0" {
                    failure = TokenFailure(.refused(errorCode: code, errorMsg: answer.errorMsg))
                } else {
                    switch ResponseDecoding.token(in: answer) {
                    case .success(let token):
                        let expireTime = answer.object.integer("expireTime") ?? 3600
                        logger.debug("token obtained", metadata: ["tenant": "\(tenant)", "expireTime": "\(expireTime)"])
                        return .token(token, lifetime: .seconds(max(1, expireTime)))
                    case .failure(let problem):
                        failure = TokenFailure(.noToken(errorCode: answer.errorCode, problem: problem.text))
                    }
                }
            }
        }
        logger.warning("no token from gettoken", metadata: ["tenant": "\(tenant)", "reason": "\(failure.reason)"])
        return .failed(failure)
    }
}
