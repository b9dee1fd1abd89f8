import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOSSL
import WorkModeDomain

/// Sends `changeWorkMode` to OIFDE over HTTP/1.1 keep-alive with a bounded pool, and manages the
/// tokens it needs. Never lets a token or secret reach a log line, an error or a result.
public final class OIFDEClient: Sendable {
    public enum SetupError: Error, CustomStringConvertible {
        case invalidBaseURL(String)
        case caFile(String)
        public var description: String {
            switch self {
            case .invalidBaseURL(let url): return "oifde.baseURL is not an http(s) URL: \(url)"
            case .caFile(let path): return "oifde.tls.caFile cannot be read as PEM certificates: \(path)"
            }
        }
    }

    public let configuration: OIFDEConfiguration
    private let http: HTTPClient
    private let tokens = TokenCache()
    private let logger: Logger
    private let changeWorkModeURL: String
    private let getTokenURL: String

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
        if !configuration.tls.verifyPeer {
            tls.certificateVerification = .none
            logger.warning("oifde.tls.verifyPeer is false: OIFDE's certificate is not checked, so tokens can be stolen on the path")
        }
        let timeout = TimeAmount.nanoseconds(Int64(configuration.timeout.timeInterval * 1e9))
        var httpConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: timeout, read: timeout),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections)
        )
        httpConfiguration.httpVersion = .http1Only
        // The gateway propagates `traceparent` itself; AHC's own spans (a no-op tracer by default)
        // still cost attribute building on every request.
        httpConfiguration.tracing.tracer = nil
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        self.configuration = configuration
        self.logger = logger
        self.changeWorkModeURL = base + "/oifde/rest/api/flow/changeWorkMode"
        self.getTokenURL = base + "/oifde/rest/api/gettoken"
    }

    /// Closes the connection pool. Call once, before the process ends.
    public func shutdown() async throws { try await http.shutdown() }

    /// How many `gettoken` requests this client made for `tenant`.
    public func tokenFetches(for tenant: String) async -> Int { await tokens.fetches(for: tenant) }

    /// One attempt: obtains a token (token mode), sends the command, and when OIFDE refuses the token
    /// (900001/900002) fetches a new one and sends again at once, once.
    public func changeWorkMode(_ command: WorkModeCommand, commandId: String, traceparent: String? = nil) async -> OIFDEAttempt {
        let started = ContinuousClock.now
        func finish(_ result: AttemptResult, refreshed: Bool, sent: Bool, verdict: AttemptVerdict? = nil) -> OIFDEAttempt {
            OIFDEAttempt(
                result: result, verdict: verdict ?? AttemptClassifier.classify(result), duration: ContinuousClock.now - started,
                refreshedToken: refreshed, sentRequest: sent
            )
        }
        switch configuration.authMode {
        case .passthrough:
            guard let token = command.authToken else {
                return finish(AttemptResult(), refreshed: false, sent: false, verdict: .rejected(reason: "the command carries no authToken"))
            }
            let result = await send(command, token: token, commandId: commandId, traceparent: traceparent)
            // The publisher owns this token; the gateway cannot renew it, so a refusal is final.
            if AttemptClassifier.classify(result) == .refreshTokenAndRetry {
                return finish(result, refreshed: false, sent: true,
                              verdict: .rejected(reason: "OIFDE refused the command's own token: errorCode \(result.errorCode ?? "")"))
            }
            return finish(result, refreshed: false, sent: true)
        case .token:
            guard let secret = configuration.tenants[command.tenantId] else {
                return finish(AttemptResult(), refreshed: false, sent: false,
                              verdict: .rejected(reason: "no appSecret is configured for tenant \(command.tenantId)"))
            }
            var refreshed = false
            for round in 0..<2 {
                let token: String
                switch await tokens.token(for: command.tenantId, fetch: { [self] in await self.fetchToken(tenant: command.tenantId, secret: secret) }) {
                case .token(let value, _): token = value
                case .failed(let failure): return finish(failure.result, refreshed: refreshed, sent: false)
                }
                let result = await send(command, token: token, commandId: commandId, traceparent: traceparent)
                guard round == 0, AttemptClassifier.classify(result) == .refreshTokenAndRetry else {
                    return finish(result, refreshed: refreshed, sent: true)
                }
                await tokens.invalidate(tenant: command.tenantId, token: token)
                refreshed = true
                // Tenants are the configured ones only (token mode), so the label stays bounded.
                Counter(label: "wmg_token_refreshes_total", dimensions: [("tenant", command.tenantId)]).increment()
                logger.info("OIFDE refused the token; fetching a new one", metadata: ["tenant": "\(command.tenantId)", "errorCode": "\(result.errorCode ?? "")"])
            }
            return finish(AttemptResult(transportError: .badResponse), refreshed: refreshed, sent: true)
        }
    }

    // MARK: - HTTP

    private func send(_ command: WorkModeCommand, token: String, commandId: String, traceparent: String?) async -> AttemptResult {
        var request = HTTPClientRequest(url: changeWorkModeURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
        request.headers.add(name: "X-Command-Id", value: commandId)
        if let traceparent { request.headers.add(name: "traceparent", value: traceparent) }
        request.body = .bytes(ByteBuffer(bytes: OIFDERequestBody.encode(command, authToken: token)))
        return await exchange(request)
    }

    private func exchange(_ request: HTTPClientRequest) async -> AttemptResult {
        do {
            let response = try await http.execute(request, timeout: TimeAmount.nanoseconds(Int64(configuration.timeout.timeInterval * 1e9)))
            let status = Int(response.status.code)
            let retryAfter = ResponseDecoding.retryAfter(response.headers.first(name: "Retry-After"))
            let body = try await response.body.collect(upTo: configuration.maxResponseBytes)
            guard let answer = ResponseDecoding.decode(Array(body.readableBytesView)) else {
                // A 2xx must carry the documented JSON; other statuses speak for themselves.
                return AttemptResult(httpStatus: status, retryAfter: retryAfter,
                                     transportError: (200...299).contains(status) ? .badResponse : nil)
            }
            return AttemptResult(httpStatus: status, errorCode: answer.errorCode, errorMsg: answer.errorMsg, retryAfter: retryAfter)
        } catch {
            return AttemptResult(transportError: TransportErrorMapping.kind(of: error))
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
        var request = HTTPClientRequest(url: getTokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
        let body = (try? JSONSerialization.data(withJSONObject: ["appKey": tenant, "appSecret": secret.value])) ?? Data()
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: TimeAmount.nanoseconds(Int64(configuration.timeout.timeInterval * 1e9)))
            let status = Int(response.status.code)
            let bytes = try await response.body.collect(upTo: configuration.maxResponseBytes)
            guard let answer = ResponseDecoding.decode(Array(bytes.readableBytesView)) else {
                logger.warning("gettoken answered without JSON", metadata: ["tenant": "\(tenant)", "httpStatus": "\(status)"])
                return .failed(.init(result: AttemptResult(httpStatus: status, transportError: (200...299).contains(status) ? .badResponse : nil)))
            }
            guard answer.errorCode == "0", let token = answer.authToken, !token.isEmpty else {
                logger.warning("gettoken refused", metadata: ["tenant": "\(tenant)", "httpStatus": "\(status)", "errorCode": "\(answer.errorCode ?? "none")"])
                return .failed(.init(result: AttemptResult(httpStatus: status, errorCode: answer.errorCode ?? "", errorMsg: answer.errorMsg)))
            }
            let lifetime = Duration.seconds(max(1, answer.expireTime ?? 3600))
            logger.debug("token obtained", metadata: ["tenant": "\(tenant)", "expireTime": "\(answer.expireTime ?? 3600)"])
            return .token(token, lifetime: lifetime)
        } catch {
            let kind = TransportErrorMapping.kind(of: error)
            logger.warning("gettoken failed", metadata: ["tenant": "\(tenant)", "error": "\(kind.rawValue)"])
            return .failed(.init(result: AttemptResult(transportError: kind)))
        }
    }
}
