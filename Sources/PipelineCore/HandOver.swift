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
/// channel's close gives it back in place. The channel may close once nothing started is
/// unsettled and every queue has shown a fresh delivery, or for `quiet` no return has arrived and
/// nothing was settled (the broker sends the next returns as soon as a settlement frees the
/// prefetch, so a full prefetch of slow commands is no sign that the returns are all taken).
public struct HandOver<Tag: Hashable & Sendable>: Sendable {
    /// What to do with a delivery.
    public enum Decision: Sendable, Hashable {
        /// Run it.
        case start
        /// Keep it unsettled: the channel's close returns it in place.
        case hold
    }

    /// How long without a returned delivery before the returns count as all taken.
    public static var quiet: Duration { .milliseconds(250) }

    private var freshSeen: Set<Tag> = []
    private var lettingGoSince: ContinuousClock.Instant?
    private var lastReturn: ContinuousClock.Instant?
    private var lastSettled: ContinuousClock.Instant?
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
        guard !sealed else { return .hold }
        if !redelivered {
            if !freshSeen.contains(tag) { freshSeen.insert(tag) }
            return lettingGoSince == nil ? .start : .hold
        }
        guard lettingGoSince != nil else { return .start }
        guard !freshSeen.contains(tag) else { return .hold }
        lastReturn = now
        return .start
    }

    /// A delivery of the channel was settled (acknowledged) at `now`: its prefetch has room, and
    /// the broker may send more returns.
    public mutating func settled(at now: ContinuousClock.Instant) {
        if lettingGoSince != nil { lastSettled = now }
    }

    /// When the channel may close, given that nothing it started is unsettled: at once (the
    /// result is `now` or earlier) when every queue in `tags` has shown a fresh delivery, else
    /// `quiet` after the last return, the last settlement or the start of letting go. Nil while
    /// not letting go.
    public func closesAt(tags: Set<Tag>, quiet: Duration = Self.quiet) -> ContinuousClock.Instant? {
        guard let since = lettingGoSince else { return nil }
        if tags.isSubset(of: freshSeen) { return since }
        return max(since, lastReturn ?? since, lastSettled ?? since) + quiet
    }
}
