import WorkModeDomain

/// One command of a batch file (JSON lines or CSV) turned into what goes on the queue: the body,
/// and the message ID the file gave it, if any.
public struct BatchRecord: Sendable, Hashable {
    /// The file's line number where the record starts (1-based), for error messages.
    public let line: Int
    /// The command body as it goes on the queue (`messageId` taken out).
    public let body: [UInt8]
    /// The file's `messageId` for it, if any.
    public let messageId: String?
    /// What is wrong with the record before its body is even a command (a CSV cell that is not
    /// UTF-8): reported with the body's own problems, never silently repaired.
    public let problems: [ValidationError]

    /// A record as it goes on the queue; `problems` are what the file's bytes already break.
    public init(line: Int, body: [UInt8], messageId: String?, problems: [ValidationError] = []) {
        self.line = line
        self.body = body
        self.messageId = messageId
        self.problems = problems
    }

    /// The member or column that names a command's message ID. Not a command field: it is taken
    /// out of the body and becomes the AMQP `message_id`.
    public static let messageIdField = "messageId"

    /// A JSON line. A string `messageId` member is taken out; the rest of the body is kept byte for
    /// byte when there is none, and otherwise re-written with members in their order. A line that is
    /// not a JSON object is passed on as it is, so validation reports exactly what is wrong with it.
    public static func jsonLine(_ bytes: [UInt8], line: Int) -> BatchRecord {
        guard case .success(.object(let members)) = JSONParser.parse(bytes, maxDepth: CommandDecoder.maxNestingDepth),
            let index = members.firstIndex(where: { $0.key == messageIdField }),
            case .string(let messageId) = members[index].value
        else {
            return BatchRecord(line: line, body: bytes, messageId: nil)
        }
        var rest = members
        rest.remove(at: index)
        var writer = JSONWriter(capacity: bytes.count)
        writer.value(.object(rest))
        return BatchRecord(line: line, body: writer.bytes, messageId: messageId.isEmpty ? nil : messageId)
    }

    /// The callTransferRequest fields, which a CSV row carries flattened by name (or as
    /// `callTransferRequest.callTransferType`).
    static let transferFields: Set<String> = ["callTransferType", "callTransferRouteValue", "callTransferNumber", "callTransferTransData"]

    /// A CSV row under its header. Empty cells are left out; every value is a string, as the
    /// interface wants. A column that is not a command field stays in the body, so validation
    /// names it as an unknown field rather than silently dropping it.
    /// A CSV row as bytes: each cell must be UTF-8, as a JSON line must.
    public static func csvRow(header: [String], rawFields: [[UInt8]], line: Int) -> BatchRecord {
        var problems: [ValidationError] = []
        let fields = rawFields.enumerated().map { index, bytes -> String in
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            let column = index < header.count ? header[index] : "column\(index + 1)"
            let pointer =
                column.hasPrefix("callTransferRequest.") || transferFields.contains(column)
                ? "/callTransferRequest/"
                    + (column.hasPrefix("callTransferRequest.") ? String(column.dropFirst("callTransferRequest.".count)) : column)
                : "/" + column
            problems.append(
                ValidationError(
                    pointer: column == messageIdField ? "" : pointer, code: .invalidUTF8,
                    message: "column \(column) (field \(index + 1)) holds bytes that are not valid UTF-8"
                ))
            return ""
        }
        let record = csvRow(header: header, fields: fields, line: line)
        return BatchRecord(line: line, body: record.body, messageId: problems.isEmpty ? record.messageId : nil, problems: problems)
    }

    /// A CSV row already decoded as text (tests, and rows known to be UTF-8).
    public static func csvRow(header: [String], fields: [String], line: Int) -> BatchRecord {
        var writer = JSONWriter(capacity: 256)
        var messageId: String?
        var transfer: [(String, String)] = []
        writer.beginObject()
        for (index, rawName) in header.enumerated() {
            let name = rawName.hasPrefix("callTransferRequest.") ? String(rawName.dropFirst("callTransferRequest.".count)) : rawName
            let value = index < fields.count ? fields[index] : ""
            guard !value.isEmpty else { continue }
            if name == messageIdField {
                messageId = value
            } else if transferFields.contains(name) {
                transfer.append((name, value))
            } else {
                writer.member(name, value)
            }
        }
        if fields.count > header.count {
            writer.member("column\(header.count + 1)", fields[header.count])
        }
        if !transfer.isEmpty {
            writer.key("callTransferRequest")
            writer.beginObject()
            for (name, value) in transfer { writer.member(name, value) }
            writer.endObject()
        }
        writer.endObject()
        return BatchRecord(line: line, body: writer.bytes, messageId: messageId)
    }
}
