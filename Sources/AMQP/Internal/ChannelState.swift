import Synchronization

/// What other threads may read about a channel incarnation: whether it is still open, and why not.
final class ChannelShared: Sendable {
    let number: UInt16
    let incarnation: UInt64
    let publisherConfirms: Bool
    private let closeReason = Mutex<AMQPError?>(nil)
    let pendingConfirms = Atomic<Int>(0)
    let acknowledgementFrames = Atomic<Int>(0)

    init(number: UInt16, incarnation: UInt64, publisherConfirms: Bool) {
        self.number = number
        self.incarnation = incarnation
        self.publisherConfirms = publisherConfirms
    }

    var closedBecause: AMQPError? { closeReason.withLock { $0 } }
    var isOpen: Bool { closedBecause == nil }

    func markClosed(_ error: AMQPError) {
        closeReason.withLock { reason in
            if reason == nil { reason = error }
        }
    }

    private static let incarnations = Atomic<UInt64>(0)
    static func nextIncarnation() -> UInt64 {
        incarnations.add(1, ordering: .relaxed).newValue
    }
}

/// One open channel, as the owner thread sees it.
final class ChannelState {
    let shared: ChannelShared
    var confirms = ConfirmTracker<PublishConfirmation>()
    var acknowledgements = AckCoalescer()
    /// By consumer tag; several tags share one sink when their deliveries form one sequence.
    var consumers: [String: ConsumerSink] = [:]

    init(shared: ChannelShared) { self.shared = shared }

    var number: UInt16 { shared.number }

    /// The channel is gone: every outstanding confirm and consumer learns why.
    func fail(_ error: AMQPError) {
        shared.markClosed(error)
        for confirmation in confirms.drain() { confirmation.resolve(.failure(error)) }
        shared.pendingConfirms.store(0, ordering: .relaxed)
        for consumer in consumers.values { consumer.continuation.finish(throwing: error) }
        consumers.removeAll()
    }
}
