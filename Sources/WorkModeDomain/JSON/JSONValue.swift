/// A parsed JSON document. Objects keep their members in order; numbers keep their text, so an
/// integer is never silently rounded through `Double`.
public enum JSONValue: Sendable, Hashable {
    /// One member of an object, in document order.
    public struct Member: Sendable, Hashable {
        /// The member's name.
        public let key: String
        /// Its value.
        public let value: JSONValue
    }

    case object([Member])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// RFC 6901 JSON pointers, built while walking a document.
enum JSONPointer {
    static func appending(_ pointer: String, _ key: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(key.utf8.count)
        for character in key {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return pointer + "/" + escaped
    }

    static func appending(_ pointer: String, _ index: Int) -> String { pointer + "/" + String(index) }
}
