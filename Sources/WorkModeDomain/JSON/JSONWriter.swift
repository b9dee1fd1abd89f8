/// Writes compact JSON objects in a fixed member order, straight to bytes.
public struct JSONWriter {
    /// The document so far.
    public internal(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []
    /// A member name was just written; the next value belongs to it and takes no comma.
    private var afterKey = false

    /// An empty document, with room for `capacity` bytes before it grows.
    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Opens an object (at the top, as a member after `key(_:)`, or in an array).
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma.removeLast()
    }

    /// Opens an array as the member `key`.
    public mutating func beginArray(_ key: String) {
        self.key(key)
        afterKey = false
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma.removeLast()
    }

    /// Writes a member name; the next value written is its value.
    public mutating func key(_ key: String) {
        separate()
        string(key)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A string member; nil leaves the member out.
    public mutating func member(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        afterKey = false
        string(value)
    }

    /// An integer member; nil leaves the member out.
    public mutating func member(_ key: String, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        afterKey = false
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A member whose value is a JSON document already written (a nested event): the bytes are
    /// copied as they are, so they must be valid JSON.
    public mutating func member(_ key: String, json: [UInt8]) {
        self.key(key)
        afterKey = false
        bytes.append(contentsOf: json)
    }

    /// A boolean member.
    public mutating func member(_ key: String, _ value: Bool) {
        self.key(key)
        afterKey = false
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// Numbers with one decimal place, as the contract's `durationMs` shows.
    public mutating func member(_ key: String, tenths value: Double) {
        self.key(key)
        afterKey = false
        let scaled = (value * 10).rounded()
        let safe = scaled.isFinite ? Int(max(min(scaled, 9e15), -9e15)) : 0
        let sign = safe < 0 ? "-" : ""
        bytes.append(contentsOf: "\(sign)\(abs(safe) / 10).\(abs(safe) % 10)".utf8)
    }

    mutating func pushContainer() { needsComma.append(false) }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] {
            bytes.append(UInt8(ascii: ","))
        } else {
            needsComma[needsComma.count - 1] = true
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A string value, escaped as RFC 8259 requires (control characters as `\\u00XX`).
    public mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Runs of bytes that need no escape are copied whole: byte by byte, writing the result
        // event into the journal line (a JSON text full of quotes) was 2% of the gateway's CPU.
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            var runStart = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                escape(byte)
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        if copied == nil {
            for byte in text.utf8 { escape(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends one byte of a string, escaped when JSON needs it (two appends rather than an
    /// array literal, which allocated for every quote).
    private mutating func escape(_ byte: UInt8) {
        let backslash = UInt8(ascii: "\\")
        switch byte {
        case UInt8(ascii: "\""), backslash:
            bytes.append(backslash)
            bytes.append(byte)
        case 0x0A:
            bytes.append(backslash)
            bytes.append(UInt8(ascii: "n"))
        case 0x0D:
            bytes.append(backslash)
            bytes.append(UInt8(ascii: "r"))
        case 0x09:
            bytes.append(backslash)
            bytes.append(UInt8(ascii: "t"))
        case 0..<0x20:
            bytes.append(backslash)
            bytes.append(UInt8(ascii: "u"))
            bytes.append(UInt8(ascii: "0"))
            bytes.append(UInt8(ascii: "0"))
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0xF)])
        default:
            bytes.append(byte)
        }
    }
}

extension JSONWriter {
    /// Writes a parsed value as it was: members in their order, numbers as written.
    /// Writes a parsed document back, members in their order.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .object(let members):
            beginObject()
            for member in members {
                key(member.key)
                self.value(member.value)
            }
            endObject()
        case .array(let elements):
            separate()
            bytes.append(UInt8(ascii: "["))
            needsComma.append(false)
            for element in elements { self.value(element) }
            endArray()
        case .string(let text):
            separate()
            string(text)
        case .number(let text):
            separate()
            bytes.append(contentsOf: text.utf8)
        case .bool(let flag):
            separate()
            bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .null:
            separate()
            bytes.append(contentsOf: "null".utf8)
        }
    }
}
