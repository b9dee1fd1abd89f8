import WorkModeDomain

/// A configuration mistake, named by its key. The daemon prints it as one line and exits 78.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The key path (`amqp.url`).
    public let key: String
    /// What is wrong with its value.
    public let problem: String
    /// Where it came from: `FILE:LINE`, or the environment variable's name.
    public let source: String?

    /// A mistake under `key`; `source` names the file and line, or the environment variable.
    public init(key: String, problem: String, source: String? = nil) {
        self.key = key
        self.problem = problem
        self.source = source
    }

    /// `configuration error: KEY: PROBLEM (SOURCE)`, the one line the daemon prints before exiting 78.
    public var description: String {
        var text = "configuration error: " + key + ": " + problem
        if let source { text += " (" + source + ")" }
        return text.oneLine
    }
}
