import Foundation

/// When a command stops being worth applying (CONTRACT.md sections 3 and 4).
public struct CommandDeadline: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable {
        /// The `x-deadline` header.
        case header
        /// The message timestamp plus `retry.deadline`.
        case timestamp
        /// The first receipt plus `retry.deadline` (no timestamp on the message).
        case firstReceipt
    }

    public let date: Date
    public let source: Source

    /// - Parameters:
    ///   - xDeadline: the header value: RFC 3339 text, or epoch milliseconds as text or integer.
    ///   - timestampSeconds: the AMQP timestamp property.
    ///   - firstReceipt: when the gateway first saw this command.
    ///   - retryDeadline: `retry.deadline`.
    /// - Returns: the deadline, or a validation error when `x-deadline` is present but unreadable.
    public static func resolve(
        xDeadline: HeaderValue?, timestampSeconds: UInt64?, firstReceipt: Date, retryDeadline: Duration
    ) -> Result<CommandDeadline, ValidationError> {
        if let xDeadline {
            switch xDeadline {
            case .int(let milliseconds):
                return .success(.init(date: Date(timeIntervalSince1970: Double(milliseconds) / 1000), source: .header))
            case .string(let text):
                if let date = RFC3339.parse(text) { return .success(.init(date: date, source: .header)) }
                if !text.isEmpty, text.utf8.count <= 16, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let milliseconds = Int64(text) {
                    return .success(.init(date: Date(timeIntervalSince1970: Double(milliseconds) / 1000), source: .header))
                }
                return .failure(ValidationError(
                    pointer: "", code: .invalidHeader,
                    message: "header x-deadline must be an RFC 3339 time or epoch milliseconds; got \(TextRules.quotedExcerpt(text))"
                ))
            }
        }
        let window = retryDeadline.timeInterval
        if let timestampSeconds {
            return .success(.init(date: Date(timeIntervalSince1970: Double(timestampSeconds)).addingTimeInterval(window), source: .timestamp))
        }
        return .success(.init(date: firstReceipt.addingTimeInterval(window), source: .firstReceipt))
    }

    public func hasPassed(at now: Date) -> Bool { now >= date }

    public func remaining(at now: Date) -> Duration { .seconds(max(0, date.timeIntervalSince(now))) }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
