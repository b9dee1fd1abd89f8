import WorkModeDomain

/// The commands of one broker session and its drain (docs/contract.md section 4), as bookkeeping: a
/// stop asks the broker for nothing more, lets what is in flight finish until the drain deadline,
/// then cuts the rest short (they go back to the queue untouched); a delivery that arrives while
/// draining goes back at once: nacked to the queue, or, on a single-active queue, held for the
/// channel's close (a nack puts a message behind every later one this consumer holds, on RabbitMQ
/// 3.10 and 4.x alike, so a call's earlier command would reach the next consumer after its later
/// ones; the close returns them all in queue order). The shell cancels the consumer, nacks, holds
/// and cancels tasks as told.
public struct Drain<Entry: Hashable & Sendable>: Sendable {
    /// What to do with a delivery.
    public enum Admission: Sendable, Hashable {
        /// Run it.
        case process
        /// Stopping: back to the queue untouched, now (`basic.nack` with requeue).
        case requeue
        /// Stopping, on a single-active queue: untouched, held unsettled until the channel's close
        /// returns it in queue order.
        case holdUntilClose
    }

    /// What the shell does.
    public enum Action: Sendable, Hashable {
        /// Ask the broker to send no more (`basic.cancel`).
        case cancelConsumer
        /// The deadline passed with these still in flight: cut them short (they requeue).
        case cutShort(count: Int)
        /// Nothing is left in flight: the session may end.
        case drained
    }

    /// The session's queues have a single active consumer (partitions, `topology.singleActiveConsumer`).
    public let holdsUntilClose: Bool
    private var started: [Entry: Moment] = [:]
    private var deadline: Moment?
    private var cut = false
    private var reportedDrained = false

    /// A session with nothing in flight, not draining; `holdsUntilClose` when its queues have a
    /// single active consumer.
    public init(holdsUntilClose: Bool = false) {
        self.holdsUntilClose = holdsUntilClose
    }

    /// Commands in flight.
    public var inFlight: Int { started.count }
    /// True once a drain was requested.
    public var isDraining: Bool { deadline != nil }
    /// When the oldest command in flight arrived.
    public var oldestStart: Moment? { started.values.min() }
    /// When `tick(at:)` must run: the drain deadline, while commands are still in flight.
    public var nextWakeup: Moment? { cut || started.isEmpty ? nil : deadline }

    /// A delivery arrived at `now` as `entry`. `aheadOfHeld`: a single-active queue's return that
    /// ``HandOver`` starts even while draining (it is ahead of every held one); it runs until the
    /// deadline like the rest, and the drain is no longer done until it ends.
    public mutating func delivered(_ entry: Entry, at now: Moment, aheadOfHeld: Bool = false) -> Admission {
        let answer = admission(aheadOfHeld: aheadOfHeld)
        guard answer == .process else { return answer }
        started[entry] = now
        reportedDrained = false
        return .process
    }

    /// What a delivery arriving now would be told, without counting it in: the shell asks before it
    /// lets one wait out a pause.
    public func admission(aheadOfHeld: Bool = false) -> Admission {
        guard deadline == nil || (aheadOfHeld && !cut) else { return holdsUntilClose ? .holdUntilClose : .requeue }
        return .process
    }

    /// `entry` is settled (acked or requeued).
    public mutating func finished(_ entry: Entry) -> Action? {
        guard started.removeValue(forKey: entry) != nil else { return nil }
        return drainedIfDone()
    }

    /// A stop was asked for at `now`; the drain ends by `now + timeout`.
    public mutating func requested(at now: Moment, timeout: Duration) -> [Action] {
        guard deadline == nil else { return [] }
        deadline = now.addingTimeInterval(timeout.timeInterval)
        return [.cancelConsumer] + (drainedIfDone().map { [$0] } ?? [])
    }

    /// Time passed: past the deadline, what is still in flight is cut short (once).
    public mutating func tick(at now: Moment) -> Action? {
        guard let deadline, now >= deadline, !cut, !started.isEmpty else { return nil }
        cut = true
        return .cutShort(count: started.count)
    }

    private mutating func drainedIfDone() -> Action? {
        guard deadline != nil, started.isEmpty, !reportedDrained else { return nil }
        reportedDrained = true
        return .drained
    }
}
