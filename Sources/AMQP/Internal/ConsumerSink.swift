import Synchronization

/// Where the deliveries of one ``AMQPConsumer`` go. Several consumer tags may share one sink, so
/// that the deliveries of several queues form one sequence without a hand-off between them.
final class ConsumerSink: Sendable {
    /// Deliveries go in as the batches one pass over the socket read (never empty), so the
    /// consumer's task is woken once per pass, not once per delivery.
    let continuation: AsyncThrowingStream<[Delivery], any Error>.Continuation
    /// The consumer tags delivering into this sink, in the order they began.
    let tags = Mutex<[String]>([])
    /// The channel the tags were started on: deliveries are acknowledged there.
    let channel: ObjectIdentifier

    init(continuation: AsyncThrowingStream<[Delivery], any Error>.Continuation, channel: ObjectIdentifier) {
        self.continuation = continuation
        self.channel = channel
    }
}
