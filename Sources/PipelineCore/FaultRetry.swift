/// One command waiting out a fault by trying again (a journal write that fails, owed messages the
/// broker refuses): its first failure holds the pipeline's pause (``Pauses``), every failure
/// waits ``Pauses/retryDelay(afterFailures:using:)``, and its end lets the pause go, as a recovery
/// only when its last try went through. The shell tries, sleeps and tells ``Pauses`` as answered.
public struct FaultRetry: Sendable, Hashable {
    /// What to do after a failed try.
    public struct Wait: Sendable, Hashable {
        /// How long to wait before trying again.
        public var delay: Duration
        /// True on the first failure only: this command now holds the pause for ``FaultRetry/cause``.
        public var holdsPause: Bool

        /// A wait of `delay`, holding the pause or not.
        public init(delay: Duration, holdsPause: Bool) {
            self.delay = delay
            self.holdsPause = holdsPause
        }
    }

    /// What the holder tells ``Pauses`` as it ends.
    public struct Release: Sendable, Hashable {
        /// The fault the holder waited out.
        public var cause: Pauses.Cause
        /// The last try went through (deliveries resume), or the holder gave up (released).
        public var recovered: Bool

        /// A holder of `cause` letting go.
        public init(cause: Pauses.Cause, recovered: Bool) {
            self.cause = cause
            self.recovered = recovered
        }
    }

    /// The fault this command waits out.
    public let cause: Pauses.Cause
    /// Failed tries so far.
    public private(set) var failures = 0

    /// A command about to make its first try.
    public init(cause: Pauses.Cause) {
        self.cause = cause
    }

    /// A try failed.
    public mutating func failed(using random: inout some RandomNumberGenerator) -> Wait {
        failures += 1
        return Wait(delay: Pauses.retryDelay(afterFailures: failures, using: &random), holdsPause: failures == 1)
    }

    /// The holder is done: `succeeded` when its last try went through. Nil when it never held the
    /// pause (its first try went through).
    public func ended(succeeded: Bool) -> Release? {
        failures > 0 ? Release(cause: cause, recovered: succeeded) : nil
    }
}
