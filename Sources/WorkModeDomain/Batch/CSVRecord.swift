/// RFC 4180 records: comma-separated, fields optionally in double quotes, `""` for a quote inside
/// quotes, line breaks allowed inside quotes.
public enum CSVRecord {
    /// True when `text` ends inside a quoted field, so the record continues on the next line.
    public static func isOpen(_ bytes: [UInt8]) -> Bool {
        var open = false
        for byte in bytes where byte == UInt8(ascii: "\"") { open.toggle() }
        return open
    }

    /// The fields of one complete record (without its final line break). nil when quoting is
    /// broken: text after a closing quote, or a quote that never closes.
    public static func fields(_ bytes: [UInt8]) -> [String]? {
        var fields: [String] = []
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
            } else if byte == UInt8(ascii: ",") {
                fields.append(String(decoding: current, as: UTF8.self))
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
                guard !afterClosingQuote else { return nil }
                current.append(byte)
            }
            fieldStart = false
            index += 1
        }
        guard !quoted else { return nil }
        fields.append(String(decoding: current, as: UTF8.self))
        return fields
    }
}
