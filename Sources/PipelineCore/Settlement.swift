/// Settling one delivery (docs/contract.md section 4): every message the command owes the broker (its
/// result event, the `reply_to` copy, its dead letter) is published and confirmed before the
/// delivery is acked. What the broker refuses (a nack, a mandatory dead letter returned
/// unroutable) is published again after a pause, never dropped and never answered by requeueing
/// the command, whose outcome is known and journaled. A lost channel or connection makes the
/// delivery tag void: the command goes back to the queue, and its redelivery is answered from the
/// journal. The refused rounds are a ``FaultRetry``: the first holds the pipeline's pause, the
/// settlement lets it go. Only bookkeeping: the shell publishes, waits for confirms, sleeps,
/// tells ``Pauses`` and acks as told.
public struct Settlement: Sendable {
    /// What the shell does next.
    public enum Action: Sendable, Hashable {
        /// Publish these owed messages (indices into the shell's list), then report each confirm.
        case publish([Int])
        /// The broker refused some: hold the pipeline's pause when told (the first refused
        /// round), wait, then `resumed()`.
        case pause(FaultRetry.Wait)
        /// Every owed message is confirmed: ack the delivery, and let go of the pause if held.
        case ack(FaultRetry.Release?)
        /// Requeue the delivery (or, with its tag void, let the broker redeliver it), and let go
        /// of the pause if held.
        case requeue(FaultRetry.Release?)
    }

    /// What the broker answered for one publish.
    public enum Confirm: Sendable, Hashable {
        /// Taken.
        case acked
        /// Nacked, or returned unroutable.
        case refused
    }

    private enum State: Sendable, Hashable {
        case idle
        case confirming
        case pausing
        case settled
    }

    private var state = State.idle
    private var waitingFor: Set<Int> = []
    private var refusedThisRound: [Int] = []
    private var refusals = FaultRetry(cause: .publish)
    /// Rounds in which the broker refused something.
    public var refusedRounds: Int { refusals.failures }
    let owed: Int

    /// A delivery that owes `owed` messages (zero: nothing to publish, ack at once).
    public init(owed: Int) {
        self.owed = owed
    }

    /// True once `.ack` or `.requeue` was answered.
    public var isSettled: Bool { state == .settled }

    /// The first step.
    public mutating func start() -> Action {
        precondition(state == .idle, "start() once, first")
        guard owed > 0 else { return settle(acked: true) }
        return publish(Array(0..<owed))
    }

    /// The broker answered for owed message `index`. Nil while other confirms of the round are
    /// still out; `random` spreads the pause after a refused round.
    public mutating func confirmed(_ index: Int, _ confirm: Confirm, random: inout some RandomNumberGenerator) -> Action? {
        guard state == .confirming, waitingFor.remove(index) != nil else { return nil }
        if confirm == .refused { refusedThisRound.append(index) }
        guard waitingFor.isEmpty else { return nil }
        guard !refusedThisRound.isEmpty else { return settle(acked: true) }
        state = .pausing
        return .pause(refusals.failed(using: &random))
    }

    /// The pause is over: publish what was refused again.
    public mutating func resumed() -> Action {
        precondition(state == .pausing, "resumed() answers .pause")
        let again = refusedThisRound.sorted()
        return publish(again)
    }

    /// The channel or connection failed, or the task was cancelled (a drain out of time). Nil
    /// when the delivery is already settled.
    public mutating func lost() -> Action? {
        guard state != .settled else { return nil }
        return settle(acked: false)
    }

    private mutating func publish(_ indices: [Int]) -> Action {
        state = .confirming
        waitingFor = Set(indices)
        refusedThisRound = []
        return .publish(indices)
    }

    private mutating func settle(acked: Bool) -> Action {
        state = .settled
        waitingFor = []
        let release = refusals.ended(succeeded: acked)
        return acked ? .ack(release) : .requeue(release)
    }
}
