import AMQP
import PipelineCore
import Synchronization

/// One consumer channel's ``HandOver`` (PipelineCore): which deliveries to start while it lets go
/// of its single-active queues, and when it may close.
final class ChannelHandOver: Sendable {
    private struct State {
        var handOver = HandOver<String>()
        var tags: Set<String> = []
    }

    private let state = Mutex(State())

    /// The channel consumes `tag` (a single-active queue, or one where order does not matter).
    func register(tag: String) { state.withLock { _ = $0.tags.insert(tag) } }

    var isLettingGo: Bool { state.withLock { $0.handOver.isLettingGo } }

    func letGo() { state.withLock { $0.handOver.letGo(at: .now) } }

    func seal() { state.withLock { $0.handOver.seal(at: .now) } }

    /// A delivery this channel started is settled.
    func settled() { state.withLock { $0.handOver.settled(at: .now) } }

    func decide(_ delivery: Delivery) -> HandOver<String>.Decision {
        state.withLock { $0.handOver.delivered(tag: delivery.consumerTag, redelivered: delivery.redelivered, at: .now) }
    }

    /// When the channel may close once nothing it started is unsettled; nil while not letting go.
    var closesAt: ContinuousClock.Instant? { state.withLock { $0.handOver.closesAt(tags: $0.tags) } }
}
