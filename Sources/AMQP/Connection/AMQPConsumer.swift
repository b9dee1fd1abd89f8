import Synchronization

/// The deliveries of one consumer, or of several on one channel, in the order the broker sent them.
public struct AMQPConsumer: AsyncSequence, Sendable {
    /// Each element is one delivery, to be acked, nacked or rejected on its channel.
    public typealias Element = Delivery

    /// The consumer tag the broker assigned to the first queue.
    public let tag: String
    let stream: AsyncThrowingStream<[Delivery], any Error>
    let sink: ConsumerSink

    /// Every consumer tag delivering into this sequence (one per queue), while it runs.
    public var tags: [String] { sink.tags.withLock { $0 } }

    /// Ends this sequence here without telling the broker (no `basic.cancel`): the consumers stay
    /// subscribed, and what the broker still sends is left unacknowledged, to be returned when
    /// the channel or connection closes. For a single-active-consumer queue, where a cancel would
    /// make the next consumer active while this one still holds earlier messages.
    public func stopReceiving() { sink.continuation.finish() }

    /// The deliveries, until the consumer is cancelled or its channel or connection ends (then the iteration throws).
    public func makeAsyncIterator() -> Iterator {
        Iterator(batches: stream.makeAsyncIterator())
    }

    /// Hands out the deliveries of each batch the connection thread passed over; only an empty
    /// batch waits.
    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncThrowingStream<[Delivery], any Error>.AsyncIterator
        var batch: [Delivery] = []
        var next = 0

        /// The next delivery; nil once the consumer was cancelled.
        public mutating func next() async throws -> Delivery? {
            while next == batch.count {
                guard let fresh = try await batches.next() else { return nil }
                batch = fresh
                next = 0
            }
            defer { next += 1 }
            return batch[next]
        }
    }
}
