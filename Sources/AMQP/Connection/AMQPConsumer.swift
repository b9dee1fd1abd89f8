/// The deliveries of one consumer, in the order the broker sent them.
public struct AMQPConsumer: AsyncSequence, Sendable {
    /// Each element is one delivery, to be acked, nacked or rejected on its channel.
    public typealias Element = Delivery

    /// The consumer tag the broker assigned.
    public let tag: String
    let stream: AsyncThrowingStream<Delivery, any Error>

    /// The deliveries, until the consumer is cancelled or its channel or connection ends (then the iteration throws).
    public func makeAsyncIterator() -> AsyncThrowingStream<Delivery, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
