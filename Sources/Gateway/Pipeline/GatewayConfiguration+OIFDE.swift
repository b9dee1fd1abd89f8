import Foundation
import GatewayConfig
import OIFDEClient
import PipelineCore

extension GatewayConfiguration {
    /// The `oifde` section as the client takes it.
    var oifdeClientConfiguration: OIFDEConfiguration {
        OIFDEConfiguration(
            baseURL: oifde.baseURL, timeout: oifde.timeout, idleTimeout: oifde.idleTimeout,
            tls: .init(
                caFile: oifde.tls.caFile, verifyPeer: oifde.tls.verifyPeer, certFile: oifde.tls.certFile, keyFile: oifde.tls.keyFile,
                minimumVersion: .init(rawValue: oifde.tls.minimumVersion) ?? .tls12),
            authMode: oifde.authMode, tenants: oifde.tenants.mapValues { OIFDEConfiguration.Secret($0.reveal()) },
            maxConnections: max(1, min(pipeline.maxInFlight, 512)), tracing: tracing.otlpEndpoint != nil,
            proxy: oifdeProxy
        )
    }
}

extension GatewayConfiguration {
    /// The proxy for OIFDE's host, unless `noProxy` exempts it.
    var oifdeProxy: ProxySettings? {
        guard let proxy = oifde.proxy, let host = URL(string: oifde.baseURL)?.host, proxy.applies(to: host) else { return nil }
        return ProxySettings(host: proxy.host, port: proxy.port, user: proxy.user, password: proxy.password?.reveal())
    }
}

extension GatewayConfiguration {
    /// The `pipeline`, `breaker` and tenants' `rateLimit` keys as the admission rules take them.
    var admissionSettings: Admission<UInt64>.Settings {
        Admission.Settings(
            maxInFlight: pipeline.maxInFlight,
            adaptive: pipeline.adaptive ? (minimum: pipeline.minInFlight, latencyTarget: pipeline.latencyTarget) : nil,
            breaker: breaker.enabled
                ? CircuitBreaker.Settings(
                    failureRate: breaker.failureRate, minimumRequests: breaker.minimumRequests, window: breaker.window, openFor: breaker.openFor,
                    maxOpenFor: breaker.maxOpenFor)
                : nil,
            rateLimits: oifde.rateLimits, batchShare: pipeline.batchShare
        )
    }
}
