import Foundation
import Logging
import OIFDEClient
import OIFDESimulator
import Testing
import WorkModeDomain

/// OIFDE through an HTTP proxy (docs/contract.md section 14): a CONNECT tunnel for HTTPS, the
/// absolute form for plain HTTP, basic credentials, and a refusal that names the proxy's status.
/// The proxy is Tests/Scripts/http_proxy.py, a real one on a loopback port.
@Suite(.timeLimit(.minutes(10))) struct ProxyTests {
    static func withProxy(credentials: String? = nil, _ body: (Int, String) async throws -> Void) async throws {
        // Port 0: a port picked at random once belonged to another listener, and the test talked
        // to it instead of the proxy.
        try await withScript("http_proxy.py", ["0", "LOG"] + (credentials.map { [$0] } ?? []), body)
    }

    static func client(_ simulatorPort: Int, https: Bool, proxy: ProxySettings?) async throws -> OIFDEClient {
        let certificates = await TestCertificates.shared()
        let configuration = OIFDEConfiguration(
            // Nothing here tests the time limit: it only ends a hang. 10 s was not enough once, with one
            // core busy and the in-process simulator starved by other suites (flake finder).
            baseURL: "\(https ? "https" : "http")://localhost:\(simulatorPort)", timeout: .seconds(60),
            tls: .init(caFile: certificates?.caFile), tenants: ["t1": .init("s1")], proxy: proxy)
        return try OIFDEClient(configuration: configuration, logger: Logger(label: "proxy", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func lines(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func httpsGoesThroughACONNECTTunnelWithCredentials() async throws {
        let certificates = try #require(await TestCertificates.shared())
        let settings = SimulatorConfiguration(
            port: 0, tlsCertificateFile: certificates.certificateFile, tlsKeyFile: certificates.keyFile, tenants: ["t1": "s1"], autoSessions: true)
        try await withSimulator(settings) { _, simulatorPort in
            try await Self.withProxy(credentials: "gateway:proxy-secret") { proxyPort, log in
                let good = ProxySettings(host: "127.0.0.1", port: proxyPort, user: "gateway", password: "proxy-secret")
                try await withClient(try await Self.client(simulatorPort, https: true, proxy: good)) { client in
                    let attempt = await client.changeWorkMode(command(.supervision, call: "proxied"), commandId: "proxied")
                    #expect(attempt.verdict == .succeeded, "\(attempt.summary)")
                }
                #expect(Self.lines(log).contains("CONNECT localhost:\(simulatorPort)"), "\(Self.lines(log))")

                let wrong = ProxySettings(host: "127.0.0.1", port: proxyPort, user: "gateway", password: "wrong")
                try await withClient(try await Self.client(simulatorPort, https: true, proxy: wrong)) { client in
                    let attempt = await client.changeWorkMode(command(.supervision, call: "refused"), commandId: "refused")
                    #expect(attempt.verdict != .succeeded)
                    // gettoken goes first: a token failure naming the proxy's refusal; nothing reached OIFDE.
                    #expect(attempt.summary.contains("proxyRefused") || attempt.summary.contains("proxy"), "\(attempt.summary)")
                }
            }
        }
    }

    @Test func plainHTTPUsesTheAbsoluteForm() async throws {
        let settings = SimulatorConfiguration(port: 0, tenants: ["t1": "s1"], autoSessions: true)
        try await withSimulator(settings) { _, simulatorPort in
            try await Self.withProxy { proxyPort, log in
                let proxy = ProxySettings(host: "127.0.0.1", port: proxyPort)
                try await withClient(try await Self.client(simulatorPort, https: false, proxy: proxy)) { client in
                    let attempt = await client.changeWorkMode(command(.supervision, call: "plain"), commandId: "plain")
                    #expect(attempt.verdict == .succeeded, "\(attempt.summary)")
                }
                #expect(
                    Self.lines(log).contains { $0.hasPrefix("POST http://localhost:\(simulatorPort)/oifde/rest/api/flow/changeWorkMode") },
                    "\(Self.lines(log))")
            }
        }
    }

    @Test func aRefusedTunnelIsNotSentAndNamesTheStatus() async throws {
        let certificates = try #require(await TestCertificates.shared())
        let settings = SimulatorConfiguration(
            port: 0, tlsCertificateFile: certificates.certificateFile, tlsKeyFile: certificates.keyFile, tenants: ["t1": "s1"])
        try await withSimulator(settings) { _, simulatorPort in
            try await Self.withProxy(credentials: "gateway:proxy-secret") { proxyPort, _ in
                let anonymous = ProxySettings(host: "127.0.0.1", port: proxyPort)
                let configuration = OIFDEConfiguration(
                    baseURL: "https://localhost:\(simulatorPort)", timeout: .seconds(60), tls: .init(caFile: certificates.caFile),
                    authMode: .passthrough, proxy: anonymous)
                let client = try OIFDEClient(configuration: configuration, logger: Logger(label: "p", factory: { _ in SwiftLogNoOpLogHandler() }))
                try await withClient(client) { client in
                    var passthrough = command(.supervision, call: "refused")
                    passthrough.authToken = "publisher-token"
                    let attempt = await client.changeWorkMode(passthrough, commandId: "refused")
                    #expect(attempt.summary.contains("proxy answered HTTP 407 (check oifde.proxy credentials)"), "\(attempt.summary)")
                    #expect(attempt.transportNeverSent && attempt.unknownOutcome == nil)
                }
            }
        }
    }

    /// Three requests to an OIFDE that cannot be reached: none is sent, and the client completes
    /// every promise it made (a debug build once trapped on a leaked one, taking the whole test
    /// process down).
    static func expectNothingSentAndNothingLeaked(baseURL: String, proxy: ProxySettings?, call: String) async throws {
        let certificates = try #require(await TestCertificates.shared())
        let configuration = OIFDEConfiguration(
            baseURL: baseURL, timeout: .seconds(5), tls: .init(caFile: certificates.caFile), authMode: .passthrough, proxy: proxy)
        let client = try OIFDEClient(configuration: configuration, logger: Logger(label: "p", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withClient(client) { client in
            for index in 0..<3 {
                var passthrough = command(.supervision, call: "\(call)-\(index)")
                passthrough.authToken = "publisher-token"
                let attempt = await client.changeWorkMode(passthrough, commandId: "\(call)-\(index)")
                #expect(attempt.transportNeverSent && attempt.unknownOutcome == nil, "\(attempt.summary)")
            }
        }
    }

    /// A proxy that cannot be reached (nothing listens on its port): the tunnel's promise.
    @Test func anUnreachableProxyIsNotSentAndLeaksNothing() async throws {
        try await Self.expectNothingSentAndNothingLeaked(
            baseURL: "https://localhost:18443", proxy: ProxySettings(host: "127.0.0.1", port: 1), call: "unreachable")
    }

    /// The same without a proxy, a TLS OIFDE that is not there: the handshake waiter's promise.
    @Test func anUnreachableTLSServerIsNotSentAndLeaksNothing() async throws {
        try await Self.expectNothingSentAndNothingLeaked(baseURL: "https://127.0.0.1:1", proxy: nil, call: "absent")
    }
}
