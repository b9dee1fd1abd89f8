/// One problem with a command: where (a JSON pointer into the body, or `""` for the whole body and
/// its headers), a stable machine-readable code, and a human message. Messages never contain an
/// auth token.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let pointer: String
    public let code: Code
    public let message: String

    /// One problem: where (`pointer`, RFC 6901), what (`code`), and a message for people.
    public init(pointer: String, code: Code, message: String) {
        self.pointer = pointer
        self.code = code
        self.message = message
    }

    /// Stable codes that publishers may branch on.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        /// A code by its wire name (`not_allowed`); the known ones are the static members.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The body is larger than `pipeline.maxMessageBytes`.
        public static let tooLarge = Code("too_large")
        public static let invalidUTF8 = Code("invalid_utf8")
        /// Not JSON; the pointer is where parsing stopped.
        public static let malformedJSON = Code("malformed_json")
        public static let tooDeep = Code("too_deep")
        public static let duplicateField = Code("duplicate_field")
        public static let notAnObject = Code("not_an_object")
        public static let required = Code("required")
        public static let wrongType = Code("wrong_type")
        public static let empty = Code("empty")
        public static let tooLong = Code("too_long")
        public static let controlCharacter = Code("control_character")
        /// A value outside the allowed set (workMode, callTransferType).
        public static let notAllowed = Code("not_allowed")
        /// A field that must not be there in this combination (callTransferRequest when workMode is
        /// not 3, a route value for types 7 and 31).
        public static let unexpected = Code("unexpected")
        public static let unknownField = Code("unknown_field")
        public static let invalidPhoneNumber = Code("invalid_phone_number")
        /// `authToken` in a body while the gateway owns the credentials.
        public static let forbidden = Code("forbidden")
        /// A header the gateway reads is not in a usable form (x-deadline).
        public static let invalidHeader = Code("invalid_header")
    }

    public var description: String { "\(pointer.isEmpty ? "(body)" : pointer): \(code): \(message)" }
}
