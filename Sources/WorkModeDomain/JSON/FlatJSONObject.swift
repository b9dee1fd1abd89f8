/// The scalar members of a small JSON object (OIFDE's answers, the simulator's requests), read
/// with the domain's own parser: Foundation's `JSONSerialization` and its dictionary bridging cost
/// more than the rest of an HTTP exchange on loopback.
public struct FlatJSONObject: Sendable, Hashable {
    /// A member's value, scalars only.
    public enum Scalar: Sendable, Hashable {
        case string(String)
        /// The number's text as written, so an integer is never rounded through `Double`.
        case number(String)
        case bool(Bool)
        case null
        /// An object or array: present, but not a scalar.
        case nested
    }

    /// The members by name.
    public let members: [String: Scalar]

    /// nil when the bytes are not one JSON object (or nest deeper than `maxDepth`).
    public init?(parsing bytes: [UInt8], maxDepth: Int = 16) {
        guard case .success(.object(let list)) = JSONParser.parse(bytes, maxDepth: maxDepth) else { return nil }
        var members: [String: Scalar] = [:]
        members.reserveCapacity(list.count)
        for member in list {
            switch member.value {
            case .string(let text): members[member.key] = .string(text)
            case .number(let text): members[member.key] = .number(text)
            case .bool(let flag): members[member.key] = .bool(flag)
            case .null: members[member.key] = .null
            case .object, .array: members[member.key] = .nested
            }
        }
        self.members = members
    }

    /// The member `key`, if present.
    public subscript(key: String) -> Scalar? { members[key] }

    /// A string member's value.
    public func string(_ key: String) -> String? {
        if case .string(let text)? = members[key] { return text }
        return nil
    }

    /// A string or a number, as text: OIFDE writes `errorCode` as a number in one answer and a
    /// string in another.
    public func text(_ key: String) -> String? {
        switch members[key] {
        case .string(let text)?, .number(let text)?: return text
        default: return nil
        }
    }

    /// An integer given as a number or as a string of digits.
    public func integer(_ key: String) -> Int? { text(key).flatMap { Int($0) } }
}
