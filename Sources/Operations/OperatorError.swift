import WorkModeDomain

/// A failure of an operator command, with the exit status of docs/contract.md section 9.
public struct OperatorError: Error, CustomStringConvertible {
    /// The exit statuses of docs/contract.md section 9.
    public enum Status: Int32, Sendable {
        /// `topology check` found entities missing or different (like `diff`'s 1 is taken by errors here).
        case drift = 2
        case runtime = 1
        case usage = 64
        case invalidInput = 65
        /// EX_TEMPFAIL: the broker could not be reached; the same command may work later.
        case unavailable = 75
        case configuration = 78
    }

    /// The exit status.
    public let status: Status
    /// The one line printed on standard error.
    public let description: String

    /// A failure with the exit status it ends the command with.
    public init(_ status: Status, _ description: String) {
        self.status = status
        self.description = description.oneLine
    }
}
