/// The earliest of many deadlines, cheaply: a binary min-heap. Entries are never removed from
/// the middle; one whose owner is gone is dropped when it reaches the top (its owner's lookup
/// says so), so a stale entry can only make a wake-up early, never late; the owner rebuilds it
/// from the live entries when stale ones outnumber them, so it stays as large as what waits.
struct DeadlineHeap<Ticket: Sendable>: Sendable {
    private var entries: [(deadline: Moment, ticket: Ticket)] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    /// Only `live` entries: a sorted array is a valid heap.
    mutating func rebuild(from live: [(deadline: Moment, ticket: Ticket)]) {
        entries = live.sorted { $0.deadline < $1.deadline }
    }
    var earliest: (deadline: Moment, ticket: Ticket)? { entries.first }

    mutating func insert(_ deadline: Moment, _ ticket: Ticket) {
        entries.append((deadline, ticket))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func removeEarliest() -> (deadline: Moment, ticket: Ticket)? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count, entries[right].deadline < entries[smallest].deadline { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
