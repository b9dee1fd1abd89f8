import Foundation
import Logging
import WorkModeDomain

/// Log lines for log pipelines: one JSON object per line (`log.format: json`) or plain text.
/// Every line has level, time and message; metadata (command ID, tenant, call…) follows as fields.
public struct StructuredLogHandler: LogHandler {
    /// JSON lines (the default) or text for people.
    public enum Format: String, Sendable { case json, text }

    /// Metadata added to every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Events below this level are dropped.
    public var logLevel: Logger.Level
    let label: String
    let format: Format

    /// A handler writing one line per event (JSON or text) at `level` or above.
    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    /// One metadata value of this logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let reserved: Set<String> = ["level", "logger", "message", "time"]

    /// Writes the event as one line, with `write(2)` so lines from many threads never interleave.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let time = RFC3339.format(Date())
        switch format {
        case .json:
            // The domain's writer, not JSONSerialization: one line per command outcome is a hot path.
            var fields: [(String, String)] = [("level", event.level.rawValue), ("logger", label), ("message", "\(event.message)"), ("time", time)]
            for (key, value) in merged where !Self.reserved.contains(key) { fields.append((key, "\(value)")) }
            fields.sort { $0.0 < $1.0 }
            var writer = JSONWriter(capacity: 256)
            writer.beginObject()
            for (key, value) in fields { writer.member(key, value) }
            writer.endObject()
            var line = writer.bytes
            line.append(UInt8(ascii: "\n"))
            Self.writeToStandardError(line)
        case .text:
            var line = "\(time) \(event.level.rawValue.uppercased()) \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
            line += "\n"
            Self.writeToStandardError(Array(line.utf8))
        }
    }

    /// One `write(2)` per line (so lines from several threads do not interleave in a pipe), without
    /// Foundation's `Data` and `FileHandle` on the way.
    static func writeToStandardError(_ line: [UInt8]) {
        line.withUnsafeBytes { buffer in
            guard var pointer = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                let written = write(STDERR_FILENO, pointer, remaining)
                if written < 0, errno == EINTR { continue }
                // A closed or full stderr must not take the daemon down; the line is lost.
                guard written > 0 else { return }
                pointer += written
                remaining -= written
            }
        }
    }
}
