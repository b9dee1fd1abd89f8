/// A failure of an operator command, with the exit status of CONTRACT.md section 9.
public struct OperatorError: Error, CustomStringConvertible {
    /// The exit statuses of CONTRACT section 9.
    public enum Status: Int32, Sendable {
        case runtime = 1
        case usage = 64
        case invalidInput = 65
        case configuration = 78
    }

    /// The exit status.
    public let status: Status
    /// The one line printed on standard error.
    public let description: String

    /// A failure with the exit status it ends the command with.
    public init(_ status: Status, _ description: String) {
        self.status = status
        self.description = description
    }
}
