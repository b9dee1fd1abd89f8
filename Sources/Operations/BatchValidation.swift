import WorkModeDomain

/// `validate`, and the first pass of `publish`: every record of a file checked by the same rules
/// as the daemon, every problem of every bad record reported with its line and JSON pointer.
public struct BatchValidation {
    public struct Summary: Sendable, Hashable {
        public var records = 0
        public var invalid = 0
        public var valid: Int { records - invalid }
        /// Message IDs given twice in the file: the gateway would treat the second as a repeat.
        public var duplicateMessageIds = 0
    }

    let decoder: CommandDecoder

    public init(decoder: CommandDecoder) { self.decoder = decoder }

    /// Checks every record; `problem` gets one line per error of each invalid record.
    public func run(_ file: CommandFile, problem: (String) -> Void) throws -> Summary {
        var summary = Summary()
        var seenIds = Set<String>()
        try file.forEachRecord { record in
            summary.records += 1
            if let id = record.messageId, !seenIds.insert(id).inserted {
                summary.duplicateMessageIds += 1
                problem("line \(record.line): messageId \(id) appears earlier in the file")
            }
            if case .failure(let failure) = decoder.decode(record.body) {
                summary.invalid += 1
                for error in failure.errors { problem(Self.describe(error, line: record.line)) }
            }
        }
        return summary
    }

    static func describe(_ error: ValidationError, line: Int) -> String {
        "line \(line): \(error.pointer.isEmpty ? "(document)" : error.pointer) \(error.code): \(error.message)"
    }

    public static func summaryLine(_ summary: Summary) -> String {
        var line = "checked \(summary.records) commands: \(summary.valid) valid, \(summary.invalid) invalid"
        if summary.duplicateMessageIds > 0 { line += ", \(summary.duplicateMessageIds) repeated messageIds" }
        return line
    }
}
