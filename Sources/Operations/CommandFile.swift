import Foundation
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// A batch file of commands, read one record at a time so a file of any size costs the memory of
/// one record. Standard input (`-`) is spooled to a temporary file first, because `publish` reads
/// the file twice (validate everything, then publish).
public final class CommandFile {
    /// JSON lines or CSV.
    public enum Format: String, Sendable, CaseIterable {
        case jsonLines = "jsonl"
        case csv
    }

    /// Where the records are read from: the file, or the spool of standard input.
    public let path: String
    /// The format it is read as.
    public let format: Format
    /// The CSV field separator: `,` unless `--delimiter` says `;` or a tab.
    public var delimiter = UInt8(ascii: ",")
    /// The spool's descriptor, kept open: the spool itself is unlinked as soon as it is written.
    private let spool: Int32?

    /// The byte `--delimiter` names: `,`, `;`, `|`, or a tab (`\t`, `tab`); nil for anything else.
    public static func delimiter(_ text: String) -> UInt8? {
        switch text {
        case ",": UInt8(ascii: ",")
        case ";": UInt8(ascii: ";")
        case "|": UInt8(ascii: "|")
        case "\t", "tab", "\\t": 0x09
        default: nil
        }
    }

    /// - Parameter format: nil picks by extension (`.csv`, `.jsonl`/`.ndjson`/`.json`), else by the
    ///   first non-blank character (`{` means JSON lines).
    public init(path: String, format: Format? = nil) throws(OperatorError) {
        if path == "-" {
            // Readable by its owner only, and unlinked at once: commands can carry personal data,
            // and no exit path (a signal, kill -9) can leave the copy behind. It is read back
            // through /proc/self/fd.
            let name = NSTemporaryDirectory() + "workmode-gateway-stdin-" + UUID().uuidString
            let fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw OperatorError(.runtime, "cannot spool standard input to \(name): \(String(cString: strerror(errno)))") }
            unlink(name)
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                var done = 0
                while done < count {
                    let written = buffer.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + done }, count - done) }
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else {
                        _ = close(fd)
                        throw OperatorError(.runtime, "cannot spool standard input: \(String(cString: strerror(errno)))")
                    }
                    done += written
                }
            }
            self.path = "/proc/self/fd/\(fd)"
            spool = fd
        } else {
            guard access(path, F_OK) == 0 else { throw OperatorError(.invalidInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
            // A directory opens and reads as empty: "checked 0, exit 0" for a batch job that named
            // the wrong path.
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType
            // nil: a pipe behind /dev/fd (a shell's process substitution), which reads as a file.
            guard type == .typeRegular || type == nil else {
                let kind = type == .typeDirectory ? "a directory" : "not a regular file"
                throw OperatorError(.invalidInput, "\(path) is \(kind): name a file of commands (or - for standard input)")
            }
            guard access(path, R_OK) == 0 else { throw OperatorError(.invalidInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
            self.path = path
            spool = nil
        }
        self.format = format ?? Self.guessFormat(path: path, spooledPath: self.path)
    }

    deinit { if let spool { _ = close(spool) } }

    /// The input as the operator named it.
    public var isStandardInput: Bool { spool != nil }

    static func guessFormat(path: String, spooledPath: String) -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") { return .jsonLines }
        guard let file = fopen(spooledPath, "r") else { return .jsonLines }
        defer { fclose(file) }
        var position = 0
        var bom = true
        while true {
            let character = fgetc(file)
            if character == EOF { return .jsonLines }
            defer { position += 1 }
            // A byte-order mark.
            if bom, position < 3, character == [0xEF, 0xBB, 0xBF][position] { continue }
            bom = false
            if character == 0x20 || character == 0x09 || character == 0x0A || character == 0x0D { continue }
            return character == Int32(UInt8(ascii: "{")) ? .jsonLines : .csv
        }
    }

    /// Calls `body` with each record in file order. Blank lines are skipped (and still counted).
    public func forEachRecord(_ body: (BatchRecord) throws -> Void) throws {
        let records = try makeRecordReader()
        while let record = try records.next() { try body(record) }
    }

    /// A reader of the records in file order.
    public func makeRecordReader() throws(OperatorError) -> RecordReader {
        RecordReader(lines: try LineReader(path: path), format: format, delimiter: delimiter)
    }

    /// The records of the file, one at a time.
    public final class RecordReader {
        private let lines: LineReader
        private let format: Format
        private let delimiter: UInt8
        private var header: [String]?

        init(lines: LineReader, format: Format, delimiter: UInt8) {
            self.delimiter = delimiter
            self.lines = lines
            self.format = format
        }

        /// The next record, or nil at the end. Throws for broken CSV quoting or a header that is not UTF-8.
        public func next() throws(OperatorError) -> BatchRecord? {
            while let (number, first) = lines.next() {
                guard !CommandFile.isBlank(first) else { continue }
                switch format {
                case .jsonLines:
                    return BatchRecord.jsonLine(first, line: number)
                case .csv:
                    var record = first
                    // A quoted field may hold line breaks: the record goes on until its quotes close.
                    while CSVRecord.isOpen(record, delimiter: delimiter), let (_, more) = lines.next() {
                        record.append(0x0A)
                        record.append(contentsOf: more)
                    }
                    guard let fields = CSVRecord.rawFields(record, delimiter: delimiter) else {
                        throw OperatorError(
                            .invalidInput, "line \(number): broken CSV quoting (text after a closing quote, or a quote that never closes)")
                    }
                    guard let names = header else {
                        var names: [String] = []
                        for (index, field) in fields.enumerated() {
                            guard let name = String(validating: field, as: UTF8.self) else {
                                throw OperatorError(.invalidInput, "line \(number): column \(index + 1) of the header is not valid UTF-8")
                            }
                            names.append(name.trimmingCharacters(in: .whitespaces))
                        }
                        header = names
                        continue
                    }
                    return BatchRecord.csvRow(header: names, rawFields: fields, line: number)
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
        var bytes = buffer.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
        // A UTF-8 byte-order mark (spreadsheets write one) is not part of the first column's name
        // nor of the first JSON line.
        if number == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        return (number, bytes)
    }
}
