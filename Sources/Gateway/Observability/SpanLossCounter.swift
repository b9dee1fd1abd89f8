import Logging
import Metrics

/// Counts the spans the OTLP exporter gave up on, from its diagnostic log lines: swift-otel's batch
/// processor reports them only there (a full queue: "Spans were dropped…" with `dropped_count`; an
/// export that failed or timed out: "Failed to export batch." with `batch_size`). Everything is
/// passed on to the process's log handler unchanged.
struct SpanLossCounter: LogHandler {
    static let label = "wmg_trace_spans_dropped_total"

    var wrapped: any LogHandler
    let queueFull: Counter
    let exportFailed: Counter

    init(wrapping handler: any LogHandler) {
        wrapped = handler
        queueFull = Counter(label: Self.label, dimensions: [("reason", "queue_full")])
        exportFailed = Counter(label: Self.label, dimensions: [("reason", "export_failed")])
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    /// At most `warning`, whatever the process's level, so that the warnings counted here always
    /// arrive; `log(event:)` passes on only what the process's level lets through.
    var logLevel: Logger.Level {
        get { min(wrapped.logLevel, .warning) }
        set { wrapped.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        count(message: event.message, metadata: event.metadata)
        if event.level >= wrapped.logLevel { wrapped.log(event: event) }
    }

    func count(message: Logger.Message, metadata: Logger.Metadata?) {
        let text = message.description
        if text.hasPrefix("Spans were dropped"), let dropped = Self.number(metadata?["dropped_count"] ?? self.metadata["dropped_count"]) {
            queueFull.increment(by: dropped)
        } else if text.hasPrefix("Failed to export batch"),
            let size = Self.number(metadata?["batch_size"] ?? self.metadata["batch_size"])
        {
            exportFailed.increment(by: size)
        }
    }

    static func number(_ value: Logger.Metadata.Value?) -> Int? {
        guard case .string(let text) = value else { return nil }
        return Int(text)
    }
}
