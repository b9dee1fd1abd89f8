import AMQP
import Foundation
import Synchronization
import WorkModeDomain

/// The end-to-end driver: publishes COUNT commands (each on its own call, so no lane serialises
/// them) as fast as the broker confirms, or at RATE per second, and listens on the results
/// exchange until every command's result event has arrived. Whatever consumes the commands queue
/// (the gateway, or the C ceiling loop) is started by the script; this measures it from outside.
struct EndToEndBenchmark {
    let url: String
    let commandsExchange: String
    let resultsExchange: String
    let count: Int
    let rate: Double
    /// The simulator's added latency, subtracted to give the gateway's own share.
    let simulatorLatencyMs: Double
    let label: String
    /// `change` (live) or `batch`.
    var routingKey = "change"
    /// Message IDs and calls are PREFIX + index, so drivers running side by side tell their results apart.
    var idPrefix = "e2e-"
    /// Listen on a `reply_to` queue of its own instead of the results exchange: beside another
    /// driver, a tap on the exchange would queue that driver's results ahead of this one's and
    /// time its own backlog.
    var viaReplyTo = false

    final class Arrivals: Sendable {
        struct State {
            var latencies: [Double]
            /// The result event's own durationMs: receipt to completion inside the gateway.
            var inside: [Double] = []
            /// Result events per status: a run where commands did not succeed measured another path.
            var statuses: [String: Int] = [:]
            var seen: [Bool]
            var arrived = 0
            var last = ContinuousClock.now
        }
        let state: Mutex<State>
        let sent: Mutex<[ContinuousClock.Instant?]>
        init(count: Int) {
            state = Mutex(State(latencies: [], seen: Array(repeating: false, count: count)))
            sent = Mutex(Array(repeating: nil, count: count))
        }
    }

    func run() async throws {
        var configuration = try AMQPConfiguration(url: url)
        configuration.connectionName = "wmg-bench e2e publisher"
        let publisher = try await AMQPConnection.connect(configuration)
        configuration.connectionName = "wmg-bench e2e results"
        let listener = try await AMQPConnection.connect(configuration)
        let resultsChannel = try await listener.openChannel()
        let tap = "wmg-bench-results-" + UUID().uuidString.lowercased()
        try await resultsChannel.declareQueue(tap, durable: false, exclusive: true, autoDelete: true)
        if !viaReplyTo { try await resultsChannel.bindQueue(tap, exchange: resultsExchange, routingKey: "#") }
        try await resultsChannel.qos(prefetchCount: 2000)
        let results = try await resultsChannel.consume(queue: tap)
        let arrivals = Arrivals(count: count)
        arrivals.state.withLock { $0.latencies.reserveCapacity(count) }
        let total = count
        let prefix = idPrefix
        let reader = Task {
            var sinceAck = 0
            for try await delivery in results {
                let now = ContinuousClock.now
                sinceAck += 1
                if sinceAck >= 200 {
                    try resultsChannel.ack(delivery, multiple: true)
                    sinceAck = 0
                }
                let event = FlatJSONObject(parsing: delivery.body)
                guard let id = event?.string("commandId"), id.hasPrefix(prefix),
                    let index = Int(id.dropFirst(prefix.count)), index >= 0, index < total,
                    let sentAt = arrivals.sent.withLock({ $0[index] })
                else { continue }
                let done = arrivals.state.withLock { state -> Bool in
                    if !state.seen[index] {
                        state.seen[index] = true
                        state.arrived += 1
                        state.latencies.append((now - sentAt).milliseconds)
                        if let text = event?.text("durationMs"), let inside = Double(text) { state.inside.append(inside) }
                        state.statuses[event?.string("status") ?? "unknown", default: 0] += 1
                        state.last = now
                    }
                    return state.arrived == total
                }
                if done { return }
            }
        }

        let channel = try await publisher.openChannel(publisherConfirms: true)
        let started = ContinuousClock.now
        var pending: [PublishConfirmation] = []
        var head = 0
        for index in 0..<count {
            if rate > 0 {
                let due = started + .nanoseconds(Int64(Double(index) / rate * 1e9))
                if due > ContinuousClock.now { try await Task.sleep(until: due) }
            }
            let body = #"{"tenantId":"bench","callId":"\#(idPrefix)call-\#(index)","agentId":"agent-7","workMode":"\#(1 + index % 2)"}"#
            // Stamped when sent: the gateway derives each command's deadline (retry.deadline, 2
            // minutes) from it, and one stamp for the whole run expired every command of a soak
            // after its second minute.
            // The partition key (docs/contract.md section 11), as `publish` sets it; unused without partitions.
            let properties = MessageProperties(
                contentType: "application/json", headers: ["x-call-key": .string("bench/\(idPrefix)call-\(index)")], deliveryMode: .persistent,
                replyTo: viaReplyTo ? tap : nil, messageId: idPrefix + String(index),
                timestamp: UInt64(Date().timeIntervalSince1970)
            )
            arrivals.sent.withLock { $0[index] = ContinuousClock.now }
            pending.append(try channel.publish(Array(body.utf8), exchange: commandsExchange, routingKey: routingKey, properties: properties))
            if pending.count - head >= 1000 {
                guard try await pending[head].outcome() == .acked else { throw BenchError("a command was not confirmed") }
                head += 1
                if head > 10_000 {
                    pending.removeFirst(head)
                    head = 0
                }
            }
        }
        while head < pending.count {
            guard try await pending[head].outcome() == .acked else { throw BenchError("a command was not confirmed") }
            head += 1
        }
        let published = ContinuousClock.now
        try await reader.value
        let (latencies, last, inside, statuses) = arrivals.state.withLock { ($0.latencies, $0.last, $0.inside.sorted(), $0.statuses) }
        let elapsed = (last - started).milliseconds / 1000
        let sorted = latencies.sorted()
        func percentile(_ p: Double, of sorted: [Double]) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        func percentile(_ p: Double) -> Double { percentile(p, of: sorted) }
        let driverCpuSeconds = processCPUSeconds()
        let report: [String: Any] = [
            "label": label, "commands": count, "rate": rate, "seconds": elapsed, "driverCpuSeconds": driverCpuSeconds,
            "commandsPerSecond": Double(count) / elapsed, "statuses": statuses,
            "publishPerSecond": Double(count) / ((published - started).milliseconds / 1000),
            "latencyMs": ["p50": percentile(0.5), "p99": percentile(0.99), "p999": percentile(0.999), "max": sorted.last ?? 0],
            // The gateway's own share: receipt to completion as its result event reports it, less the
            // simulator's configured latency. (End-to-end also holds broker queueing and confirms.)
            "addedLatencyMs": [
                "p50": max(0, percentile(0.5, of: inside) - simulatorLatencyMs), "p99": max(0, percentile(0.99, of: inside) - simulatorLatencyMs),
                "p999": max(0, percentile(0.999, of: inside) - simulatorLatencyMs),
            ],
        ]
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        await publisher.close()
        await listener.close()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var milliseconds: Double { timeInterval * 1000 }
}
