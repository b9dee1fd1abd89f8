import AMQP
import Foundation
import Synchronization

/// One message of a stream with its offset.
struct StreamMessage: Sendable {
    /// Where it sits in the stream: unique, never reused, increasing in publish order.
    let offset: Int64
    let delivery: Delivery
}

/// Reads a RabbitMQ stream over AMQP 0-9-1 without changing it: `basic.consume` with
/// `x-stream-offset` only moves this consumer's own cursor; nothing is removed, redelivered or
/// reordered for anyone else.
///
/// AMQP 0-9-1 never says where a stream ends (a passive declare answers 0 messages for a stream on
/// 3.10 and 4.0), so the end is found in two steps: a second consumer from `last` receives the
/// stream's last chunk, whose first offset is a floor the reading must reach; past the floor, the
/// reading ends once no delivery has come for `quiet`. An empty stream ends after `quiet` with
/// neither consumer having received anything.
enum StreamReading {
    /// How long a reading waits for more once it has passed the last chunk's start.
    static let quiet: Duration = .milliseconds(300)
    /// How long a reading that has not reached the floor waits for the broker before it fails
    /// (a broker this slow would make any count a guess).
    static let stall: Duration = .seconds(30)
    /// How long a stream that shows nothing at all is given before it counts as empty.
    static let emptyWait: Duration = .milliseconds(600)

    /// Every message of `queue` from `start` (`first`, or an offset) to the end, in offset order.
    static func read(_ queue: String, from start: FieldValue = .string("first"), on connection: AMQPConnection) async throws -> [StreamMessage] {
        let reader = try await connection.openChannel()
        let prober = try await connection.openChannel()
        defer {
            Task {
                try? await reader.close()
                try? await prober.close()
            }
        }
        try await reader.qos(prefetchCount: 1000)
        try await prober.qos(prefetchCount: 1)
        let collected = Collected()
        let consumer = try await reader.consume(queue: queue, arguments: ["x-stream-offset": start])
        let probe = try await prober.consume(queue: queue, arguments: ["x-stream-offset": .string("last")])
        let readTask = Task {
            do {
                for try await delivery in consumer {
                    collected.add(delivery)
                    // Acks only grant credit on a stream; they remove nothing.
                    try reader.ack(delivery)
                }
            } catch {
                collected.fail(error)
            }
        }
        let probeTask = Task {
            for try await delivery in probe {
                collected.floor(delivery)
                break
            }
        }
        defer {
            readTask.cancel()
            probeTask.cancel()
        }
        let began = ContinuousClock.now
        while true {
            try await Task.sleep(for: .milliseconds(20))
            let now = ContinuousClock.now
            let state = collected.state()
            if let failure = state.failure { throw failure }
            let idle = now - (state.lastArrival ?? began)
            // Neither consumer has anything yet: an empty stream, or a broker slow to start.
            let empty = state.count == 0 && !state.probeAnswered && now - began >= emptyWait
            if state.reachedFloor || empty, idle >= quiet { break }
            if now - began >= stall {
                throw StreamReadingError.stalled(queue: queue, read: state.count)
            }
        }
        try? await reader.cancel(consumer)
        try? await prober.cancel(probe)
        return collected.messages()
    }

    /// What the two consumers have seen so far, shared with the polling loop.
    final class Collected: Sendable {
        struct State {
            var messages: [StreamMessage] = []
            var highest: Int64 = -1
            var floorOffset: Int64?
            var probeAnswered = false
            var lastArrival: ContinuousClock.Instant?
            var failure: (any Error)?
        }
        private let shared = Mutex(State())

        func add(_ delivery: Delivery) {
            let offset = delivery.properties.headers?["x-stream-offset"]?.intValue ?? -1
            shared.withLock {
                $0.lastArrival = .now
                guard offset > $0.highest else { return }
                $0.highest = offset
                $0.messages.append(StreamMessage(offset: offset, delivery: delivery))
            }
        }

        func floor(_ delivery: Delivery) {
            let offset = delivery.properties.headers?["x-stream-offset"]?.intValue ?? 0
            shared.withLock {
                $0.floorOffset = offset
                $0.probeAnswered = true
            }
        }

        func fail(_ error: any Error) {
            shared.withLock { if $0.failure == nil { $0.failure = error } }
        }

        func state() -> (reachedFloor: Bool, probeAnswered: Bool, lastArrival: ContinuousClock.Instant?, count: Int, failure: (any Error)?) {
            shared.withLock { s in
                let reached = s.floorOffset.map { s.highest >= $0 } ?? false
                return (reached, s.probeAnswered, s.lastArrival, s.messages.count, s.failure)
            }
        }

        func messages() -> [StreamMessage] { shared.withLock { $0.messages } }
    }
}

/// A stream that could not be read to its end.
enum StreamReadingError: Error, CustomStringConvertible {
    case stalled(queue: String, read: Int)

    var description: String {
        switch self {
        case .stalled(let queue, let read):
            return "reading \(queue) stalled after \(read) messages: the broker stopped delivering before the stream's end"
        }
    }
}
