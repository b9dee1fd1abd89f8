/// RFC 4180 records: comma-separated (or `;`/tab, as European spreadsheets export: `--delimiter`), fields optionally in double quotes, `""` for a quote inside
/// quotes, line breaks allowed inside quotes. A quote opens a quoted field only at the start of a
/// field; anywhere else in an unquoted field (`a"b`) it is a literal character and never makes a
/// record run on into the next line.
public enum CSVRecord {
    enum Scan {
        /// The record is complete: its fields' bytes.
        case fields([[UInt8]])
        /// It ends inside a quoted field: the next line belongs to it.
        case open
        /// Text after a closing quote.
        case broken
    }

    static func scan(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ",")) -> Scan {
        var fields: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        var quoted = false
        var afterClosingQuote = false
        var fieldStart = true
        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\"") {
                        current.append(byte)
                        index += 1
                    } else {
                        quoted = false
                        afterClosingQuote = true
                    }
                } else {
                    current.append(byte)
                }
            } else if byte == delimiter {
                fields.append(current)
                current.removeAll(keepingCapacity: true)
                afterClosingQuote = false
                fieldStart = true
                index += 1
                continue
            } else if byte == UInt8(ascii: "\"") && fieldStart {
                quoted = true
            } else if byte == 0x0D && index == bytes.count - 1 {
                // The CR of a CRLF line ending.
            } else {
                guard !afterClosingQuote else { return .broken }
                current.append(byte)
            }
            fieldStart = false
            index += 1
        }
        guard !quoted else { return .open }
        fields.append(current)
        return .fields(fields)
    }

    /// True when `bytes` ends inside a quoted field, so the record continues on the next line.
    public static func isOpen(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ",")) -> Bool {
        if case .open = scan(bytes, delimiter: delimiter) { return true }
        return false
    }

    /// The fields of one complete record (without its final line break), as bytes: a cell that is
    /// not UTF-8 is the caller's to refuse, never silently replaced. nil when quoting is broken.
    public static func rawFields(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ",")) -> [[UInt8]]? {
        if case .fields(let fields) = scan(bytes, delimiter: delimiter) { return fields }
        return nil
    }

    /// The fields as text (invalid UTF-8 replaced): for tests and for what is already checked.
    public static func fields(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ",")) -> [String]? {
        rawFields(bytes, delimiter: delimiter)?.map { String(decoding: $0, as: UTF8.self) }
    }
}
