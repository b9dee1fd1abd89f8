import Foundation

/// When a command stops being worth applying (docs/contract.md sections 3 and 4).
public struct CommandDeadline: Sendable, Hashable {
    /// Where a deadline came from.
    public enum Source: String, Sendable, Hashable {
        /// The `x-deadline` header.
        case header
        /// The message timestamp plus `retry.deadline`.
        case timestamp
        /// The first receipt plus `retry.deadline` (no timestamp on the message).
        case firstReceipt
    }

    /// When the command stops being worth applying.
    public let date: Date
    /// Which rule set it.
    public let source: Source

    /// The `x-deadline` header as it arrived. Only text (RFC 3339, or epoch milliseconds as
    /// digits) and integers (epoch milliseconds) are deadlines; every other AMQP type is refused,
    /// so a deadline is never silently ignored or read in the wrong unit (an AMQP `timestamp`
    /// holds seconds, a double has no agreed unit).
    public enum Header: Sendable, Hashable {
        case text(String)
        case milliseconds(Int64)
        /// Any other type, by its name in messages ("timestamp", "double", "table", …).
        case unsupported(type: String)
    }

    /// - Parameters:
    ///   - xDeadline: the header, when present.
    ///   - timestampSeconds: the AMQP timestamp property.
    ///   - firstReceipt: when the gateway first saw this command.
    ///   - retryDeadline: `retry.deadline`.
    /// - Returns: the deadline, or a validation error when `x-deadline` is present but not a deadline.
    ///   A command's age counts from the earlier of its timestamp and its receipt: a timestamp in
    ///   the future (a publisher's clock ahead) cannot extend `retry.deadline`.
    public static func resolve(
        xDeadline: Header?, timestampSeconds: UInt64?, firstReceipt: Date, retryDeadline: Duration
    ) -> Result<CommandDeadline, ValidationError> {
        if let xDeadline {
            switch xDeadline {
            case .milliseconds(let milliseconds):
                return .success(.init(date: Date(timeIntervalSince1970: Double(milliseconds) / 1000), source: .header))
            case .text(let text):
                if let date = RFC3339.parse(text) { return .success(.init(date: date, source: .header)) }
                if !text.isEmpty, text.utf8.count <= 16, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let milliseconds = Int64(text) {
                    return .success(.init(date: Date(timeIntervalSince1970: Double(milliseconds) / 1000), source: .header))
                }
                return .failure(
                    ValidationError(
                        pointer: "", code: .invalidHeader,
                        message: "header x-deadline must be an RFC 3339 time or epoch milliseconds; got \(TextRules.quotedExcerpt(text))"
                    ))
            case .unsupported(let type):
                return .failure(
                    ValidationError(
                        pointer: "", code: .invalidHeader,
                        message:
                            "header x-deadline must be a string (RFC 3339 or epoch milliseconds) or an integer (epoch milliseconds); got a \(type)"
                    ))
            }
        }
        let window = retryDeadline.timeInterval
        if let timestampSeconds {
            let stamped = Date(timeIntervalSince1970: Double(timestampSeconds))
            if stamped <= firstReceipt {
                return .success(.init(date: stamped.addingTimeInterval(window), source: .timestamp))
            }
        }
        return .success(.init(date: firstReceipt.addingTimeInterval(window), source: .firstReceipt))
    }

    /// Whether the deadline is at or before `now`: a command past it is never forwarded.
    public func hasPassed(at now: Date) -> Bool { now >= date }

    /// The time left at `now`, zero once passed.
    public func remaining(at now: Date) -> Duration { .seconds(max(0, date.timeIntervalSince(now))) }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
