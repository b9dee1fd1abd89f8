import PipelineCore
import Synchronization

/// Per-call ordering: commands with the same lane key (tenantId + callId) run one after another,
/// in the order they were registered; different lanes run in parallel.
///
/// The consumer registers each command synchronously as it is delivered, so lane order is
/// delivery order however the processing tasks are later scheduled.
final class LaneBookDriver: Sendable {
    /// Identity is the ticket: two commands with equal keys are two tickets.
    final class Ticket: Sendable, Hashable {
        static func == (lhs: Ticket, rhs: Ticket) -> Bool { lhs === rhs }
        func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

        let key: String
        fileprivate let state = Mutex<TicketState>(.waiting(nil))

        init(key: String) { self.key = key }

        /// Returns true when every earlier command of the lane has left; false when the task was
        /// cancelled first (a drain that ran out of time), so nobody waits for a lane forever.
        func waitForTurn() async -> Bool {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                    let answer = state.withLock { state -> Bool? in
                        switch state {
                        case .ready: return true
                        case .cancelled: return false
                        case .waiting:
                            state = .waiting(continuation)
                            return nil
                        }
                    }
                    if let answer { continuation.resume(returning: answer) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard case .waiting(let continuation) = state else { return nil }
                    state = .cancelled
                    return continuation
                }
                waiter?.resume(returning: false)
            }
        }

        fileprivate func makeReady() {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard case .waiting(let continuation) = state else { return nil }
                state = .ready
                return continuation
            }
            waiter?.resume(returning: true)
        }
    }

    fileprivate enum TicketState {
        case waiting(CheckedContinuation<Bool, Never>?)
        case ready
        /// Stopped waiting; it still holds its place until `leave`.
        case cancelled
    }

    /// The rules (PipelineCore); this class only parks and wakes the tasks.
    private let book = Mutex(LaneBook<Ticket>())

    /// Takes a place at the end of the lane.
    func register(_ key: String) -> Ticket {
        let ticket = Ticket(key: key)
        if book.withLock({ $0.join(ticket, lane: key) }) { ticket.makeReady() }
        return ticket
    }

    /// Leaves the lane; the next command of the lane may start.
    func leave(_ ticket: Ticket) {
        book.withLock { $0.leave(ticket, lane: ticket.key) }?.makeReady()
    }

    /// Lanes with a command waiting behind another (for metrics).
    var waitingLanes: Int { book.withLock { $0.lanesWithWaiters } }
}
