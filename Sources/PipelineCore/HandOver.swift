/// A consumer of single-active queues letting go of them (a drain, or a hand-back to a returning
/// owner) without reordering a call's commands.
///
/// What the broker does (RabbitMQ 3.10 and 4.0.5, `SingleActiveOrderTests`): a closed channel's
/// unsettled messages go back in queue order, but behind the messages earlier closes returned that
/// no consumer has taken yet; the broker delivers those returns before anything else, each marked
/// redelivered. A consumer that became active after another's close takes only as many of them as
/// its prefetch allows. Were it to let go holding some, they would land behind the rest, and a
/// call's earlier command would reach the next consumer after its later ones.
///
/// So while letting go, a returned (redelivered) delivery is still started as long as no fresh one
/// has arrived on its queue: it is ahead of everything this consumer holds. A fresh delivery proves
/// its queue's returns are all taken; from then on everything on that queue is held, and the
/// channel's close gives it back in place. A queue with nothing ready at the broker has no returns
/// left to take either. Silence is no proof: the broker sends the next returns only when a
/// settlement frees the prefetch, and a loaded broker (a CI run) took longer than 250 ms to send
/// them, so after a quiet period the consumer asks the broker how many messages each unproven
/// queue still has ready (``Step/ask(_:)``), and waits while returns remain. It stops waiting when
/// the broker has delivered nothing for ``stall`` though messages are ready: this consumer is then
/// not the one they go to (RabbitMQ 4.x stops delivering to a consumer a higher-priority one is
/// waiting for), or never became active on a queue it never received from.
public struct HandOver<Tag: Hashable & Sendable>: Sendable {
    /// What to do with a delivery.
    public enum Decision: Sendable, Hashable {
        /// Run it.
        case start
        /// Keep it unsettled: the channel's close returns it in place.
        case hold
    }

    /// What the channel does next, once nothing it started is unsettled.
    public enum Step: Sendable, Hashable {
        /// Close: nothing it would hold is behind a return not yet taken.
        case close
        /// Nothing to decide before then (or before the next delivery or settlement).
        case wait(until: ContinuousClock.Instant)
        /// Ask the broker how many messages these queues have ready, and tell ``reported(ready:at:)``.
        case ask(Set<Tag>)
    }

    /// How long without a return or a settlement before asking the broker.
    public static var quiet: Duration { .milliseconds(250) }
    /// How long the broker may deliver nothing on a queue this channel received from, while it
    /// says messages are ready there, before this channel stops waiting for them.
    public static var stall: Duration { .seconds(5) }
    /// The same for a queue this channel never received from: most likely another consumer is
    /// the active one there, and closing holds nothing of that queue.
    public static var stallNeverDelivered: Duration { .seconds(2) }

    private var freshSeen: Set<Tag> = []
    private var deliveredOn: Set<Tag> = []
    private var nothingReady: Set<Tag> = []
    private var lettingGoSince: ContinuousClock.Instant?
    private var lastReturn: ContinuousClock.Instant?
    private var lastSettled: ContinuousClock.Instant?
    private var lastAsked: ContinuousClock.Instant?
    private var sealed = false

    /// A channel that has not begun to let go.
    public init() {}

    /// True once ``letGo(at:)`` was called.
    public var isLettingGo: Bool { lettingGoSince != nil }

    /// Stops taking new work from the channel at `now`.
    public mutating func letGo(at now: ContinuousClock.Instant) {
        if lettingGoSince == nil { lettingGoSince = now }
    }

    /// The channel is about to close: from now on everything is held, returns too (one started
    /// now would still be unsettled at the close).
    public mutating func seal(at now: ContinuousClock.Instant) {
        letGo(at: now)
        sealed = true
    }

    /// A delivery on the queue `tag` arrived at `now`.
    public mutating func delivered(tag: Tag, redelivered: Bool, at now: ContinuousClock.Instant) -> Decision {
        if !deliveredOn.contains(tag) { deliveredOn.insert(tag) }
        guard !sealed else { return .hold }
        if !redelivered {
            if !freshSeen.contains(tag) { freshSeen.insert(tag) }
            return lettingGoSince == nil ? .start : .hold
        }
        guard lettingGoSince != nil else { return .start }
        guard !freshSeen.contains(tag) else { return .hold }
        lastReturn = now
        // The broker's count is out of date: it had this one in flight, and may have more.
        nothingReady.remove(tag)
        return .start
    }

    /// A delivery of the channel was settled (acknowledged) at `now`: its prefetch has room, and
    /// the broker may send more returns.
    public mutating func settled(at now: ContinuousClock.Instant) {
        if lettingGoSince != nil { lastSettled = now }
    }

    /// What the broker answered to ``Step/ask(_:)``: messages ready per queue. A queue missing
    /// from `ready` (the broker could not be asked) stays unproven.
    public mutating func reported(ready: [Tag: Int], at now: ContinuousClock.Instant) {
        lastAsked = now
        for (tag, count) in ready where count == 0 { nothingReady.insert(tag) }
    }

    /// What to do at `now`, given that nothing the channel started is unsettled, for the queues
    /// `tags` it consumes. Nil while not letting go.
    public func next(
        tags: Set<Tag>, at now: ContinuousClock.Instant, quiet: Duration = Self.quiet, stall: Duration = Self.stall,
        stallNeverDelivered: Duration = Self.stallNeverDelivered
    ) -> Step? {
        guard let since = lettingGoSince else { return nil }
        let unproven = tags.subtracting(freshSeen).subtracting(nothingReady)
        if unproven.isEmpty { return .close }
        let progress = max(since, lastReturn ?? since, lastSettled ?? since)
        let quietUntil = max(progress, lastAsked ?? since) + quiet
        if now < quietUntil { return .wait(until: quietUntil) }
        let waited = now - progress
        let stillAwaited = unproven.filter { waited < (deliveredOn.contains($0) ? stall : stallNeverDelivered) }
        // Asked before, and the broker had returns ready: it has not sent them within the bound.
        if lastAsked != nil, stillAwaited.isEmpty { return .close }
        return .ask(lastAsked == nil ? unproven : stillAwaited)
    }
}
