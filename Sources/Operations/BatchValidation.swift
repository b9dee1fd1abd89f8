import WorkModeDomain

/// `validate`, and the first pass of `publish`: every record of a file checked by the same rules
/// as the daemon, plus what the broker would refuse (AMQP short strings), plus repeated message
/// IDs; every problem of every bad record reported with its line and JSON pointer.
public struct BatchValidation {
    /// What a validation pass found.
    public struct Summary: Sendable, Hashable {
        /// Records read.
        public var records = 0
        /// Records with at least one problem.
        public var invalid = 0
        /// Records without any.
        public var valid: Int { records - invalid }
        /// Records whose messageId an earlier record already has: invalid, because the daemon would
        /// answer the second from its journal and never forward it.
        public var duplicateMessageIds = 0
        /// The lines of the invalid records, so `publish --skip-invalid` skips exactly those.
        public var invalidLines = Set<Int>()
        /// The line of the last record.
        public var lastLine = 0
    }

    /// AMQP 0-9-1 short strings (message_id, correlation_id, header names) hold 255 bytes; a longer
    /// one makes the broker close the connection part-way through a publish.
    public static let maxShortStringBytes = 255

    let decoder: CommandDecoder
    /// `publish --correlation-prefix`: correlation IDs are checked against the short-string limit too.
    let correlationPrefix: String?

    /// Validation by the daemon's rules; with `correlationPrefix`, the correlation IDs `publish` would set are checked too.
    public init(decoder: CommandDecoder, correlationPrefix: String? = nil) {
        self.decoder = decoder
        self.correlationPrefix = correlationPrefix
    }

    /// Checks every record; `problem` gets one line per error of each invalid record.
    public func run(_ file: CommandFile, problem: (String) -> Void) throws -> Summary {
        try run(
            file,
            invalidRecord: { line, errors in
                for error in errors { problem(Self.describe(error, line: line)) }
            })
    }

    /// Checks every record; `invalidRecord` gets each invalid record's line and all its errors.
    public func run(_ file: CommandFile, invalidRecord: (Int, [ValidationError]) -> Void) throws -> Summary {
        var summary = Summary()
        // The first line of each message ID, by a 64-bit hash: a 10-million-line file costs tens of
        // megabytes, not the IDs themselves.
        var firstLines: [UInt64: Int] = [:]
        try file.forEachRecord { record in
            summary.records += 1
            summary.lastLine = record.line
            var errors = record.problems
            if case .failure(let failure) = decoder.decode(record.body) { errors += failure.errors }
            if let id = record.messageId {
                if id.utf8.count > Self.maxShortStringBytes {
                    errors.append(
                        ValidationError(
                            pointer: "/messageId", code: .tooLong,
                            message: "messageId is \(id.utf8.count) bytes; an AMQP message_id holds at most \(Self.maxShortStringBytes)"
                        ))
                } else if let first = firstLines[BatchIdentity.hash(id)] {
                    summary.duplicateMessageIds += 1
                    errors.append(
                        ValidationError(
                            pointer: "/messageId", code: .duplicateField,
                            message:
                                "messageId \(TextRules.quotedExcerpt(id)) is already used on line \(first): the gateway would treat this command as a repeat and never forward it"
                        ))
                } else {
                    firstLines[BatchIdentity.hash(id)] = record.line
                }
            }
            if let correlationPrefix {
                let correlationId = BatchIdentity.correlationId(prefix: correlationPrefix, line: record.line)
                if correlationId.utf8.count > Self.maxShortStringBytes {
                    errors.append(
                        ValidationError(
                            pointer: "", code: .tooLong,
                            message:
                                "correlation_id \(TextRules.quotedExcerpt(correlationId)) is \(correlationId.utf8.count) bytes; AMQP allows \(Self.maxShortStringBytes)"
                        ))
                }
            }
            guard !errors.isEmpty else { return }
            summary.invalid += 1
            summary.invalidLines.insert(record.line)
            invalidRecord(record.line, errors)
        }
        return summary
    }

    static func describe(_ error: ValidationError, line: Int) -> String {
        "line \(line): \(error.pointer.isEmpty ? "(document)" : error.pointer) \(error.code): \(error.message)"
    }

    /// `checked N commands: V valid, I invalid`, for the last line of `validate`.
    public static func summaryLine(_ summary: Summary) -> String {
        var line = "checked \(summary.records) commands: \(summary.valid) valid, \(summary.invalid) invalid"
        if summary.duplicateMessageIds > 0 { line += " (\(summary.duplicateMessageIds) of them repeat an earlier messageId)" }
        return line
    }
}
