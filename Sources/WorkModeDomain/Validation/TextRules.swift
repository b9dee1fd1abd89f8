/// Character-level rules shared by the validators.
public enum TextRules {
    /// Lengths count Unicode scalars: what a publisher in any language sees as characters, and
    /// stable across platforms (grapheme rules change with Unicode versions).
    static func length(_ text: String) -> Int { text.unicodeScalars.count }

    /// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), without building a String.
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b in
            var i = 0
            let n = b.count
            while i < n {
                let lead = b[i]
                if lead < 0x80 {
                    i += 1
                    continue
                }
                let count: Int
                var lower: UInt8 = 0x80
                var upper: UInt8 = 0xBF
                switch lead {
                case 0xC2...0xDF: count = 1
                case 0xE0:
                    count = 2
                    lower = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF: count = 2
                case 0xED:
                    count = 2
                    upper = 0x9F
                case 0xF0:
                    count = 3
                    lower = 0x90
                case 0xF1...0xF3: count = 3
                case 0xF4:
                    count = 3
                    upper = 0x8F
                default: return false
                }
                // The continuation bytes are b[i+1] ... b[i+count].
                guard i + count < n else { return false }
                let second = b[i + 1]
                guard second >= lower, second <= upper else { return false }
                var k = 2
                while k <= count {
                    let continuation = b[i + k]
                    guard continuation >= 0x80, continuation <= 0xBF else { return false }
                    k += 1
                }
                i += count + 1
            }
            return true
        }
    }

    /// Unicode scalars in `text`, and whether any is a control character: one pass for both rules.
    static func lengthAndControl(_ text: String) -> (length: Int, hasControl: Bool) {
        var length = 0
        var hasControl = false
        for scalar in text.unicodeScalars {
            length += 1
            if scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value <= 0x9F) { hasControl = true }
        }
        return (length, hasControl)
    }

    /// C0 and C1 control characters (Unicode general category Cc).
    static func containsControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// `+` optional, then 1 to 32 ASCII digits.
    static func isPhoneNumber(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        if utf8.first == UInt8(ascii: "+") { utf8 = utf8.dropFirst() }
        return (1...32).contains(utf8.count) && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// A value quoted for an error message: JSON-escaped and cut to 40 characters, so a message
    /// stays one short line whatever the input.
    public static func quotedExcerpt(_ text: String, limit: Int = 40) -> String {
        var out = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out += "…"
                break
            }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out + "\""
    }

    /// Cuts to at most `maxBytes` of UTF-8 without splitting a character.
    static func truncated(_ text: String, maxBytes: Int, marker: String = "…") -> String {
        guard text.utf8.count > maxBytes else { return text }
        let budget = max(0, maxBytes - marker.utf8.count)
        var end = text.utf8.startIndex
        var used = 0
        for scalar in text.unicodeScalars {
            let size = String(scalar).utf8.count
            if used + size > budget { break }
            used += size
            end = text.utf8.index(end, offsetBy: size)
        }
        return String(text[..<end]) + marker
    }
}
