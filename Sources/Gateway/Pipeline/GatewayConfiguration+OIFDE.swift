import GatewayConfig
import OIFDEClient

extension GatewayConfiguration {
    /// The `oifde` section as the client takes it.
    var oifdeClientConfiguration: OIFDEConfiguration {
        OIFDEConfiguration(
            baseURL: oifde.baseURL, timeout: oifde.timeout, tls: .init(caFile: oifde.tls.caFile, verifyPeer: oifde.tls.verifyPeer),
            authMode: oifde.authMode, tenants: oifde.tenants.mapValues { OIFDEConfiguration.Secret($0.reveal()) },
            maxConnections: max(1, min(pipeline.maxInFlight, 512)), tracing: tracing.otlpEndpoint != nil
        )
    }
}
