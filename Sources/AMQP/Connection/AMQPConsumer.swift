import Synchronization

/// The deliveries of one consumer, or of several on one channel, in the order the broker sent them.
public struct AMQPConsumer: AsyncSequence, Sendable {
    /// Each element is one delivery, to be acked, nacked or rejected on its channel.
    public typealias Element = Delivery

    /// The consumer tag the broker assigned to the first queue.
    public let tag: String
    let stream: AsyncThrowingStream<Delivery, any Error>
    let sink: ConsumerSink

    /// Every consumer tag delivering into this sequence (one per queue), while it runs.
    public var tags: [String] { sink.tags.withLock { $0 } }

    /// The deliveries, until the consumer is cancelled or its channel or connection ends (then the iteration throws).
    public func makeAsyncIterator() -> AsyncThrowingStream<Delivery, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
