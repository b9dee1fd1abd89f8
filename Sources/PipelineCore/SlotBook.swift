/// At most `limit` commands talk to OIFDE at once (`pipeline.maxInFlight`); the rest wait in
/// arrival order. Only bookkeeping: the shell parks and wakes the waiting tasks as this answers.
public struct SlotBook<Waiter: Hashable & Sendable>: Sendable {
    /// The most slots in use at once.
    public let limit: Int
    /// Slots free now.
    public private(set) var available: Int
    /// Waiters in arrival order from `head`; a withdrawn one is skipped.
    private var queue: [Waiter] = []
    private var head = 0
    private var queued: Set<Waiter> = []

    /// `limit` free slots.
    public init(limit: Int) {
        self.limit = limit
        self.available = limit
    }

    /// Asks for a slot: true when granted at once; false when `waiter` now waits in line.
    public mutating func request(_ waiter: Waiter) -> Bool {
        if available > 0, queued.isEmpty {
            available -= 1
            return true
        }
        queue.append(waiter)
        queued.insert(waiter)
        return false
    }

    /// A waiting `waiter` leaves the line (its task was cancelled). False when it was not waiting.
    public mutating func withdraw(_ waiter: Waiter) -> Bool {
        queued.remove(waiter) != nil
    }

    /// A slot is given back: the next waiter gets it (returned), or it becomes free (nil).
    public mutating func release() -> Waiter? {
        while head < queue.count {
            let next = queue[head]
            head += 1
            if head > 1024, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            if queued.remove(next) != nil { return next }
        }
        queue.removeAll(keepingCapacity: true)
        head = 0
        available += 1
        return nil
    }

    /// Slots in use.
    public var inUse: Int { limit - available }

    /// Waiters in line.
    public var waiting: Int { queued.count }
}
