import AMQP
import PipelineCore
import Synchronization

/// One consumer channel's ``HandOver`` (PipelineCore): which deliveries to start while it lets go
/// of its single-active queues, and when it may close.
final class HandOverDriver: Sendable {
    /// Messages ready per queue, as the broker answers; a queue it did not answer for is missing.
    typealias ReadyCounts = @Sendable ([String]) async -> [String: Int]

    /// Whether the channel may close, once nothing it started is unsettled.
    enum Closing: Sendable, Hashable {
        case now
        /// Nothing to decide before then (a delivery or a settlement may come first).
        case notBefore(ContinuousClock.Instant)
    }

    private struct State {
        var handOver = HandOver<String>()
        var queueByTag: [String: String] = [:]
    }

    private let state = Mutex(State())

    /// The channel consumes `queue` as `tag` (a single-active queue, or one where order does not
    /// matter).
    func register(tag: String, queue: String) { state.withLock { $0.queueByTag[tag] = queue } }

    var isLettingGo: Bool { state.withLock { $0.handOver.isLettingGo } }

    func letGo() { state.withLock { $0.handOver.letGo(at: .now) } }

    func seal() { state.withLock { $0.handOver.seal(at: .now) } }

    /// A delivery this channel started is settled.
    func settled() { state.withLock { $0.handOver.settled(at: .now) } }

    func decide(_ delivery: Delivery) -> HandOver<String>.Decision {
        state.withLock { $0.handOver.delivered(tag: delivery.consumerTag, redelivered: delivery.redelivered, at: .now) }
    }

    /// Asks the broker when the core wants to know what its queues still have ready.
    func closing(asking readyCounts: ReadyCounts) async -> Closing {
        while true {
            let now = ContinuousClock.now
            let (step, queueByTag) = state.withLock { state in
                (state.handOver.next(tags: Set(state.queueByTag.keys), at: now), state.queueByTag)
            }
            switch step {
            case nil: return .notBefore(now + HandOver<String>.quiet)
            case .close: return .now
            case .wait(let until): return .notBefore(until)
            case .ask(let tags):
                let counts = await readyCounts(tags.compactMap { queueByTag[$0] }.sorted())
                let byTag = tags.reduce(into: [String: Int]()) { byTag, tag in
                    if let queue = queueByTag[tag], let count = counts[queue] { byTag[tag] = count }
                }
                state.withLock { $0.handOver.reported(ready: byTag, at: .now) }
            }
        }
    }
}
