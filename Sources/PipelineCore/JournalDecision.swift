/// What a delivery's journal entry decides (docs/contract.md sections 4 and 11): a known outcome is
/// never forwarded again, only its stored result re-published; anything else is forwarded, in
/// doubt when this journal saw a forward start without an outcome, or when the broker redelivers
/// a command this journal does not know (another replica, or an earlier process, may have sent it).
/// `Stored` is what the journal keeps of an outcome; the decision carries it, so the shell
/// re-publishes exactly what decided it and never matches the journal's answer again.
public enum JournalDecision<Stored: Sendable>: Sendable {
    /// Re-publish the stored result (and dead letter); do not forward.
    case republishStored(Stored)
    /// Forward it; `inDoubt` goes into its result event.
    case forward(inDoubt: Bool)

    /// What the journal knows of the command's key.
    public enum Entry: Sendable {
        /// Nothing: never seen, or forgotten after `dedupe.ttl`. Also every command without a
        /// message ID, which has no key to look up.
        case unknown
        /// A forward started and no outcome was recorded.
        case started
        /// An outcome was recorded.
        case completed(Stored)
    }

    /// The decision for a delivery whose key the journal answers with `entry`.
    public static func decide(_ entry: Entry, redelivered: Bool) -> JournalDecision {
        switch entry {
        case .completed(let stored): return .republishStored(stored)
        case .started: return .forward(inDoubt: true)
        case .unknown: return .forward(inDoubt: redelivered)
        }
    }
}

extension JournalDecision: Equatable where Stored: Equatable {}
extension JournalDecision: Hashable where Stored: Hashable {}
extension JournalDecision.Entry: Equatable where Stored: Equatable {}
extension JournalDecision.Entry: Hashable where Stored: Hashable {}
