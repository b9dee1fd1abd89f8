/// Per-call order (docs/contract.md section 4): commands of one lane (tenantId + callId) run one after
/// another in the order they joined; lanes run in parallel. Only bookkeeping: the shell parks and
/// wakes the waiting tasks as this answers.
public struct LaneBook<Ticket: Hashable & Sendable>: Sendable {
    private var lanes: [String: [Ticket]] = [:]

    /// No lane holds anything.
    public init() {}

    /// Puts `ticket` at the end of `lane`; true when it is the lane's head and may run at once.
    public mutating func join(_ ticket: Ticket, lane: String) -> Bool {
        lanes[lane, default: []].append(ticket)
        return lanes[lane]?.count == 1
    }

    /// Takes `ticket` out of `lane` (done, or given up while waiting); returns the ticket that
    /// may run now: the new head, when the one leaving was the head.
    public mutating func leave(_ ticket: Ticket, lane: String) -> Ticket? {
        guard var queue = lanes[lane], let index = queue.firstIndex(of: ticket) else { return nil }
        queue.remove(at: index)
        guard !queue.isEmpty else {
            lanes.removeValue(forKey: lane)
            return nil
        }
        lanes[lane] = queue
        return index == 0 ? queue.first : nil
    }

    /// Lanes with a command waiting behind another.
    public var lanesWithWaiters: Int { lanes.values.filter { $0.count > 1 }.count }

    /// Tickets in all lanes, running or waiting.
    public var count: Int { lanes.values.reduce(0) { $0 + $1.count } }
}
