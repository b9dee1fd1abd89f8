import Foundation
import Hummingbird
import Logging
import NIOCore
import PipelineCore
import Prometheus
import WorkModeDomain

/// The admin listener (`admin.listen`): liveness, readiness and Prometheus metrics. It runs on its
/// own event loop and reads the pipeline's state under short locks only, so a scrape never waits
/// for a command and a command never waits for a scrape.
public enum AdminServer {
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    /// The Hummingbird application serving `/health/live`, `/health/ready` and `/metrics` on `listen`,
    /// and whatever `extraRoutes` adds (the dead-letter console).
    public static func application(
        listen: ListenAddress, gateway: Gateway, registry: PrometheusCollectorRegistry, logger: Logger,
        extraRoutes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        extraRoutes(router)
        router.get("health/live") { _, _ -> Response in
            // Answering at all shows the event loops are alive; the pipeline's own loop is checked
            // by whether the daemon is still running.
            guard gateway.isRunning else { return json(#"{"status":"stopped"}"#, status: .serviceUnavailable) }
            return json(#"{"status":"live"}"#, status: .ok)
        }
        router.get("health/ready") { _, _ -> Response in
            let reason = gateway.notReadyReason
            var writer = JSONWriter(capacity: 96)
            writer.beginObject()
            writer.member("status", reason == nil ? "ready" : "not ready")
            if let reason { writer.member("reason", reason) }
            // An open circuit is OIFDE's trouble, not this replica's: still ready, but said.
            let circuit = gateway.admission.circuitState
            if circuit != .closed { writer.member("oifde", "circuit \(circuit.name)") }
            writer.endObject()
            return json(String(decoding: writer.bytes, as: UTF8.self), status: reason == nil ? .ok : .serviceUnavailable)
        }
        let process = ProcessMetrics()
        router.get("metrics") { _, _ -> Response in
            gateway.observe()
            process.observe()
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            buffer = MetricHelp.annotate(buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        var adminLogger = logger
        adminLogger.logLevel = max(logger.logLevel, .notice)
        return Application(
            router: router,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "workmode-gateway-admin"),
            logger: adminLogger
        )
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: jsonHeaders, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
