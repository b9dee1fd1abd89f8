import GatewayConfig
import OIFDEClient
import PipelineCore

extension GatewayConfiguration {
    /// The `oifde` section as the client takes it.
    var oifdeClientConfiguration: OIFDEConfiguration {
        OIFDEConfiguration(
            baseURL: oifde.baseURL, timeout: oifde.timeout,
            tls: .init(
                caFile: oifde.tls.caFile, verifyPeer: oifde.tls.verifyPeer, certFile: oifde.tls.certFile, keyFile: oifde.tls.keyFile,
                minimumVersion: .init(rawValue: oifde.tls.minimumVersion) ?? .tls12),
            authMode: oifde.authMode, tenants: oifde.tenants.mapValues { OIFDEConfiguration.Secret($0.reveal()) },
            maxConnections: max(1, min(pipeline.maxInFlight, 512)), tracing: tracing.otlpEndpoint != nil
        )
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
