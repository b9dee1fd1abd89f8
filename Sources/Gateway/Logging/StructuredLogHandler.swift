import Foundation
import Logging
import WorkModeDomain

/// Log lines for log pipelines: one JSON object per line (`log.format: json`) or plain text.
/// Every line has level, time and message; metadata (command ID, tenant, call…) follows as fields.
public struct StructuredLogHandler: LogHandler {
    public enum Format: String, Sendable { case json, text }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: Format

    public init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let time = RFC3339.format(Date())
        var line: String
        switch format {
        case .json:
            var object: [String: String] = ["level": event.level.rawValue, "time": time, "message": "\(event.message)", "logger": label]
            for (key, value) in merged where object[key] == nil { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        case .text:
            line = "\(time) \(event.level.rawValue.uppercased()) \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
