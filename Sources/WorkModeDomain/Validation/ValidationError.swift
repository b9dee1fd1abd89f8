/// One problem with a command: where (a JSON pointer into the body, or `""` for the whole body and
/// its headers), a stable machine-readable code, and a human message. Messages never contain an
/// auth token.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where (RFC 6901; empty for the whole body or a header).
    public let pointer: String
    /// What, as a stable code.
    public let code: Code
    /// For people.
    public let message: String

    /// One problem: where (`pointer`, RFC 6901), what (`code`), and a message for people.
    public init(pointer: String, code: Code, message: String) {
        self.pointer = pointer
        self.code = code
        self.message = message
    }

    /// Stable codes that publishers may branch on.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The wire name.
        public let rawValue: String
        /// A code by its wire name (`not_allowed`); the known ones are the static members.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The wire name.
        public var description: String { rawValue }

        /// The body is larger than `pipeline.maxMessageBytes`.
        public static let tooLarge = Code("too_large")
        /// The body is not UTF-8.
        public static let invalidUTF8 = Code("invalid_utf8")
        /// Not JSON; the pointer is where parsing stopped.
        public static let malformedJSON = Code("malformed_json")
        /// The body nests too deep.
        public static let tooDeep = Code("too_deep")
        /// A member appears twice (or a messageId repeats in a batch file).
        public static let duplicateField = Code("duplicate_field")
        /// The body is not a JSON object.
        public static let notAnObject = Code("not_an_object")
        /// A required field is missing.
        public static let required = Code("required")
        /// A field has the wrong JSON type.
        public static let wrongType = Code("wrong_type")
        /// A field is empty.
        public static let empty = Code("empty")
        /// A field is too long.
        public static let tooLong = Code("too_long")
        /// A field holds a control character.
        public static let controlCharacter = Code("control_character")
        /// A value outside the allowed set (workMode, callTransferType).
        public static let notAllowed = Code("not_allowed")
        /// A field that must not be there in this combination (callTransferRequest when workMode is
        /// not 3, a route value for types 7 and 31).
        public static let unexpected = Code("unexpected")
        /// A field the interface does not have.
        public static let unknownField = Code("unknown_field")
        /// Not `+` then 1-32 digits.
        public static let invalidPhoneNumber = Code("invalid_phone_number")
        /// `authToken` in a body while the gateway owns the credentials.
        public static let forbidden = Code("forbidden")
        /// A header the gateway reads is not in a usable form (x-deadline).
        public static let invalidHeader = Code("invalid_header")
    }

    /// `POINTER: code: message`.
    public var description: String { "\(pointer.isEmpty ? "(body)" : pointer): \(code): \(message)" }
}
