import GatewayConfig
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Tracing
import UnixSignals

#if OTLPTracing
    import OTel
#endif

/// `workmode-gateway run` put together: the Prometheus metrics backend, the pipeline and the admin
/// listener in one service group that stops on SIGTERM or SIGINT.
public enum Daemon {
    /// Bootstraps the process's tracer with an OTLP/HTTP exporter when `tracing.otlp.endpoint` is
    /// set; returns the exporter's service, which must run for spans to leave. The `OTEL_*`
    /// variables of the OpenTelemetry specification (sampler, headers, …) still apply.
    static func bootstrapTracing(_ configuration: GatewayConfiguration, logger: Logger) throws -> (any Service)? {
        guard let endpoint = configuration.tracing.otlpEndpoint else { return nil }
        #if OTLPTracing
            var otel = OTel.Configuration.default
            otel.serviceName = "workmode-gateway"
            otel.resourceAttributes["service.version"] = BuildInfo.version
            otel.logs.enabled = false
            otel.metrics.enabled = false
            otel.traces.enabled = true
            otel.traces.exporter = .otlp
            otel.traces.otlpExporter.endpoint = endpoint
            otel.traces.otlpExporter.protocol = .httpProtobuf
            otel.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
            // A collector that accepts and never answers must not hold spans (memory) or exports for
            // long: at most 1,024 spans wait (more are dropped and logged), an export gives up after
            // 5 s. OTEL_BSP_* and OTEL_EXPORTER_OTLP_TIMEOUT still override these.
            otel.traces.batchSpanProcessor.maxQueueSize = 1024
            otel.traces.batchSpanProcessor.maxExportBatchSize = 256
            otel.traces.batchSpanProcessor.exportTimeout = .seconds(5)
            otel.traces.otlpExporter.timeout = .seconds(5)
            // The spans it gives up on are counted (`wmg_trace_spans_dropped_total`).
            let diagnostics = logger.handler
            otel.diagnosticLogger = .custom(Logger(label: logger.label) { _ in SpanLossCounter(wrapping: diagnostics) })
            let backend = try OTel.makeTracingBackend(configuration: otel)
            InstrumentationSystem.bootstrap(backend.factory)
            logger.info("tracing: spans go to \(endpoint) over OTLP/HTTP")
            return backend.service
        #else
            throw TracingNotBuilt(endpoint: endpoint)
        #endif
    }

    /// Whether this build can export traces (the package trait `OTLPTracing`, on by default).
    public static var tracingBuilt: Bool {
        #if OTLPTracing
            true
        #else
            false
        #endif
    }

    /// `tracing.otlp.endpoint` is set, but this build was made without the `OTLPTracing` trait.
    public struct TracingNotBuilt: Error, CustomStringConvertible {
        let endpoint: String
        /// One line for the log: what is set, and what to do.
        public var description: String {
            "tracing.otlp.endpoint is \(endpoint), but this build has no tracing (built without the OTLPTracing trait): unset it, or use a build with the trait"
        }
    }

    /// Buckets for the duration histograms: OIFDE answers in milliseconds when healthy, and a
    /// command may wait for retries up to its deadline.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]

    /// Runs the gateway, the admin listener and the memory trimmer until SIGTERM or SIGINT; returns after the drain. Throws when a service fails
    /// (the admin port taken, a refused topology).
    /// - Parameter adminRoutes: adds routes to the admin listener (the dead-letter console).
    /// - Parameter background: work that runs beside the pipeline until it stops (the dead-letter watch).
    public static func run(
        configuration: GatewayConfiguration, logger: Logger, adminRoutes: (Router<BasicRequestContext>) -> Void = { _ in },
        background: [@Sendable () async -> Void] = []
    ) async throws {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
        BuildInfo.record()

        // Tracing first: the OIFDE client takes the process's tracer when it is made.
        let tracing = try Self.bootstrapTracing(configuration, logger: logger)
        let gateway = try Gateway(configuration: configuration, logger: logger)
        let admin = AdminServer.application(
            listen: configuration.adminListen, gateway: gateway, registry: registry, logger: logger, extraRoutes: adminRoutes)
        // Services stop in reverse order: the pipeline drains first while the admin listener still
        // answers (ready says "draining"); the listener goes when the pipeline has finished.
        let group = ServiceGroup(
            configuration: .init(
                // Services stop in reverse order: the exporter last, so the drain's spans go out.
                services: (tracing.map { [.init(service: $0)] } ?? []) + [
                    .init(service: admin), .init(service: MemoryTrimmer()),
                ] + background.map { .init(service: BackgroundService(body: $0)) } + [.init(service: gateway)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            )
        )
        // The default action of these signals is to end the process at once, with no drain, and
        // the next start forwards again what was in flight. logrotate and a closed terminal send
        // SIGHUP; logs go to standard output and error, so there is nothing to reopen.
        let ignored = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2)
        let notes = Task {
            for await signal in ignored {
                logger.notice("received \(signal): ignored (only SIGTERM and SIGINT stop the gateway)")
            }
        }
        defer { notes.cancel() }
        try await group.run()
    }
}
