import Foundation

/// A header value the domain asks for; the pipeline maps it to the broker's field types.
public enum HeaderValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
}

/// What a dead letter carries besides the original body and properties (docs/contract.md section 6).
public struct DeadLetterAnnotation: Sendable, Hashable {
    /// `x-failure-reason` is cut to this many bytes.
    public static let maxReasonBytes = 512
    /// `x-validation-errors` is cut to this many bytes.
    public static let maxValidationErrorsBytes = 4096

    /// `x-failure-class`, also the routing key.
    public var failureClass: DeadLetterClass
    /// `x-failure-reason`.
    public var reason: String
    /// `x-failure-error-code`: OIFDE's errorCode, when there was one.
    public var errorCode: String?
    /// `x-failure-http-status`.
    public var httpStatus: Int?
    /// `x-validation-errors`.
    public var validationErrors: [ValidationError]
    /// `x-attempts`.
    public var attempts: Int
    /// `x-dead-lettered-at`.
    public var deadLetteredAt: Date
    /// `x-original-exchange`.
    public var originalExchange: String
    /// `x-original-routing-key`.
    public var originalRoutingKey: String
    /// Why the command is in doubt (an attempt whose outcome was unknown): `x-in-doubt: true` and
    /// `x-in-doubt-reason` (docs/contract.md section 14); nil when it is not.
    public var inDoubt: String?

    /// What the gateway adds to a dead letter; the reason and errors are cut to their header limits when written.
    public init(
        failureClass: DeadLetterClass, reason: String, errorCode: String? = nil, httpStatus: Int? = nil,
        validationErrors: [ValidationError] = [], attempts: Int, deadLetteredAt: Date, originalExchange: String,
        originalRoutingKey: String, inDoubt: String? = nil
    ) {
        self.inDoubt = inDoubt
        self.failureClass = failureClass
        self.reason = reason
        self.errorCode = errorCode
        self.httpStatus = httpStatus
        self.validationErrors = validationErrors
        self.attempts = attempts
        self.deadLetteredAt = deadLetteredAt
        self.originalExchange = originalExchange
        self.originalRoutingKey = originalRoutingKey
    }

    /// The headers to add, in order. `x-redrive-count` is kept as the message had it (replay
    /// increments it), so it is not set here.
    public func headers() -> [(key: String, value: HeaderValue)] {
        var headers: [(key: String, value: HeaderValue)] = [
            ("x-failure-class", .string(failureClass.rawValue)),
            ("x-failure-reason", .string(Self.oneLine(reason, maxBytes: Self.maxReasonBytes))),
        ]
        if let errorCode { headers.append(("x-failure-error-code", .string(Self.oneLine(errorCode, maxBytes: 64)))) }
        if let httpStatus { headers.append(("x-failure-http-status", .int(Int64(httpStatus)))) }
        if !validationErrors.isEmpty {
            headers.append(("x-validation-errors", .string(Self.validationErrorsJSON(validationErrors))))
        }
        headers.append(("x-attempts", .int(Int64(attempts))))
        headers.append(("x-dead-lettered-at", .string(RFC3339.format(deadLetteredAt))))
        headers.append(("x-original-exchange", .string(originalExchange)))
        headers.append(("x-original-routing-key", .string(originalRoutingKey)))
        if let inDoubt {
            headers.append(("x-in-doubt", .bool(true)))
            headers.append(("x-in-doubt-reason", .string(Self.oneLine(inDoubt, maxBytes: Self.maxReasonBytes))))
        }
        return headers
    }

    /// One line (line breaks become spaces), at most `maxBytes` of UTF-8, cut on a character boundary.
    public static func oneLine(_ text: String, maxBytes: Int) -> String {
        let flattened = String(
            text.unicodeScalars.map { scalar -> Character in
                scalar.value < 0x20 || scalar.value == 0x7F ? " " : Character(scalar)
            })
        return TextRules.truncated(flattened, maxBytes: maxBytes)
    }

    /// The errors as a JSON array of at most 4 KiB. When they do not all fit, whole errors are
    /// dropped from the end and a last `{"code":"truncated"}` entry says how many: the header stays
    /// valid JSON.
    static func validationErrorsJSON(_ errors: [ValidationError]) -> String {
        func render(_ count: Int) -> [UInt8] {
            var writer = JSONWriter()
            writer.bytes.reserveCapacity(512)
            writer.beginArrayTopLevel()
            for error in errors.prefix(count) { writer.write(error) }
            if count < errors.count {
                writer.write(ValidationError(pointer: "", code: .init("truncated"), message: "\(errors.count - count) more errors"))
            }
            writer.endArray()
            return writer.bytes
        }
        var count = errors.count
        var bytes = render(count)
        while bytes.count > maxValidationErrorsBytes, count > 0 {
            count -= 1
            bytes = render(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension JSONWriter {
    mutating func beginArrayTopLevel() {
        bytes.append(UInt8(ascii: "["))
        pushContainer()
    }
}
