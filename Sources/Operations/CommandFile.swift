import Foundation
import WorkModeDomain

#if canImport(Glibc)
import Glibc
#endif

/// A batch file of commands, read one record at a time so a file of any size costs the memory of
/// one record. Standard input (`-`) is spooled to a temporary file first, because `publish` reads
/// the file twice (validate everything, then publish).
public final class CommandFile {
    public enum Format: String, Sendable, CaseIterable {
        case jsonLines = "jsonl"
        case csv
    }

    public let path: String
    public let format: Format
    private let spooled: Bool

    /// - Parameter format: nil picks by extension (`.csv`, `.jsonl`/`.ndjson`/`.json`), else by the
    ///   first non-blank character (`{` means JSON lines).
    public init(path: String, format: Format? = nil) throws(OperatorError) {
        if path == "-" {
            let spool = NSTemporaryDirectory() + "workmode-gateway-stdin-" + UUID().uuidString
            guard let output = fopen(spool, "w") else { throw OperatorError(.runtime, "cannot spool standard input to \(spool)") }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                fwrite(buffer, 1, count, output)
            }
            fclose(output)
            self.path = spool
            spooled = true
        } else {
            guard access(path, R_OK) == 0 else { throw OperatorError(.invalidInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
            self.path = path
            spooled = false
        }
        self.format = format ?? Self.guessFormat(path: path, spooledPath: self.path)
    }

    deinit { if spooled { unlink(path) } }

    static func guessFormat(path: String, spooledPath: String) -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") { return .jsonLines }
        guard let file = fopen(spooledPath, "r") else { return .jsonLines }
        defer { fclose(file) }
        while true {
            let character = fgetc(file)
            if character == EOF { return .jsonLines }
            if character == 0x20 || character == 0x09 || character == 0x0A || character == 0x0D { continue }
            return character == Int32(UInt8(ascii: "{")) ? .jsonLines : .csv
        }
    }

    /// Calls `body` with each record in file order. Blank lines are skipped (and still counted).
    public func forEachRecord(_ body: (BatchRecord) throws -> Void) throws {
        let records = try makeRecordReader()
        while let record = try records.next() { try body(record) }
    }

    public func makeRecordReader() throws(OperatorError) -> RecordReader {
        RecordReader(lines: try LineReader(path: path), format: format)
    }

    /// The records of the file, one at a time.
    public final class RecordReader {
        private let lines: LineReader
        private let format: Format
        private var header: [String]?

        init(lines: LineReader, format: Format) {
            self.lines = lines
            self.format = format
        }

        public func next() throws(OperatorError) -> BatchRecord? {
            while let (number, first) = lines.next() {
                guard !CommandFile.isBlank(first) else { continue }
                switch format {
                case .jsonLines:
                    return BatchRecord.jsonLine(first, line: number)
                case .csv:
                    var record = first
                    // A quoted field may hold line breaks: the record goes on until its quotes close.
                    while CSVRecord.isOpen(record), let (_, more) = lines.next() {
                        record.append(0x0A)
                        record.append(contentsOf: more)
                    }
                    guard let fields = CSVRecord.fields(record) else {
                        throw OperatorError(.invalidInput, "line \(number): broken CSV quoting")
                    }
                    guard let names = header else {
                        header = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                        continue
                    }
                    return BatchRecord.csvRow(header: names, fields: fields, line: number)
                }
            }
            return nil
        }
    }

    static func isBlank(_ line: [UInt8]) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}

/// Lines of a file without their line break, numbered from 1.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    private var number = 0

    init(path: String) throws(OperatorError) {
        guard let file = fopen(path, "r") else { throw OperatorError(.invalidInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
        self.file = file
    }

    deinit {
        free(buffer)
        fclose(file)
    }

    func next() -> (Int, [UInt8])? {
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return nil }
        number += 1
        var count = length
        if count > 0, buffer[count - 1] == 0x0A { count -= 1 }
        if count > 0, buffer[count - 1] == 0x0D { count -= 1 }
        return (number, buffer.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) })
    }
}
