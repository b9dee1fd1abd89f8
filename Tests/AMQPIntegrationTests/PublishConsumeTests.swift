import AMQP
import Foundation
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(10))) struct PublishConsumeTests {
    /// A table with its entries, and those of every nested table, in key order.
    static func sortedByKey(_ table: FieldTable) -> FieldTable {
        FieldTable(
            table.entries.sorted { $0.key < $1.key }.map { entry in
                if case .table(let inner) = entry.value { return FieldTable.Entry(key: entry.key, value: .table(sortedByKey(inner))) }
                return entry
            })
    }

    @Test func roundTripKeepsEveryPropertyAndNestedHeaders() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        let headers: FieldTable = [
            "x-deadline": .string("2026-11-25T10:00:00Z"), "count": .int64(-42), "flag": .bool(true), "ratio": .double(0.5),
            "raw": .bytes([0, 1, 254]), "when": .timestamp(1_764_064_800),
            "nested": .table(["inner": .table(["leaf": .int32(7)]), "list": .array([.string("a"), .int16(2)])]),
        ]
        let properties = MessageProperties(
            contentType: "application/json", contentEncoding: "identity", headers: headers, deliveryMode: .persistent,
            priority: 3, correlationId: "corr-1", replyTo: "replies", expiration: "600000", messageId: "msg-1",
            timestamp: 1_764_064_800, type: "workmode.change", userId: "guest", appId: "tests"
        )
        let body = Array(#"{"tenantId":"t1","callId":"c1"}"#.utf8)
        let outcome = try await channel.publishAndConfirm(body, exchange: "", routingKey: queue, properties: properties)
        #expect(outcome == .acked)

        let consumer = try await channel.consume(queue: queue)
        let delivery = try #require(try await next(consumer))
        #expect(delivery.body == body)
        // RabbitMQ 4 hands header tables back sorted by key; 3.10 in the order sent.
        var received = delivery.properties
        var sent = properties
        #expect(received.headers.map(Self.sortedByKey) == sent.headers.map(Self.sortedByKey))
        received.headers = nil
        sent.headers = nil
        #expect(received == sent)
        #expect(delivery.routingKey == queue)
        #expect(delivery.exchange == "")
        #expect(!delivery.redelivered)
        #expect(delivery.consumerTag == consumer.tag)
        try channel.ack(delivery)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test func tenThousandPipelinedPublishesAreAllConfirmed() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        let body = [UInt8](repeating: 0x61, count: 256)
        var confirmations: [PublishConfirmation] = []
        confirmations.reserveCapacity(10_000)
        for i in 0..<10_000 {
            confirmations.append(try channel.publish(body, exchange: "", routingKey: queue, properties: .init(messageId: "\(i)")))
        }
        var acked = 0
        for confirmation in confirmations where try await confirmation.outcome() == .acked { acked += 1 }
        #expect(acked == 10_000)
        #expect(channel.pendingConfirms == 0)
        let info = try await channel.checkQueue(queue)
        #expect(info.messageCount == 10_000)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    /// A batch goes out in order, and each confirm calls back once, on the connection's thread
    /// (no task to wake), including the return of an unroutable mandatory message and a callback
    /// registered after its confirm already came.
    @Test func batchedPublishesCallBackEachConfirmOnce() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        let messages = (0..<500).map { i in
            OutgoingMessage(body: Array("\(i)".utf8), exchange: "", routingKey: i == 250 ? "no-such-queue-\(queue)" : queue, mandatory: i == 250)
        }
        let confirmations = try channel.publish(messages)
        #expect(confirmations.count == 500)
        let outcomes = Mutex<[Int: [PublishOutcome]]>([:])
        let threads = Mutex<Set<String>>([])
        let registering = Mutex<Set<String>>([])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            registering.withLock { _ = $0.insert(Self.threadName()) }
            let remaining = Atomic(500)
            for (index, confirmation) in confirmations.enumerated() {
                confirmation.whenResolved { result in
                    outcomes.withLock { $0[index, default: []].append((try? result.get()) ?? .nacked) }
                    threads.withLock { _ = $0.insert(Self.threadName()) }
                    if remaining.subtract(1, ordering: .relaxed).newValue == 0 { done.resume() }
                }
            }
        }
        let seen = outcomes.withLock { $0 }
        #expect(seen.count == 500 && seen.values.allSatisfy { $0.count == 1 })
        #expect(seen[250] == [.returned(replyCode: 312, replyText: "NO_ROUTE")])
        #expect(seen.filter { $0.value == [.acked] }.count == 499)
        // Each callback ran on the connection's own thread, or, for a confirm that came back
        // before its callback was registered (a loaded machine), at once on the registering one.
        let ran = threads.withLock { $0 }
        #expect(ran.contains("amqp-connection") || ran == registering.withLock { $0 }, "\(ran)")
        #expect(ran.subtracting(["amqp-connection"]).isSubset(of: registering.withLock { $0 }), "\(ran)")
        // Registered after the answer came: called at once, on the caller.
        let late = Mutex<PublishOutcome?>(nil)
        confirmations[0].whenResolved { result in late.withLock { $0 = try? result.get() } }
        #expect(late.withLock { $0 } == .acked)
        // In order: the queue holds 0...499 without 250.
        let consumer = try await channel.consume(queue: queue)
        var bodies: [String] = []
        for try await delivery in consumer {
            bodies.append(String(decoding: delivery.body, as: UTF8.self))
            try channel.ack(delivery)
            if bodies.count == 499 { break }
        }
        #expect(bodies == (0..<500).filter { $0 != 250 }.map(String.init))
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    /// The calling thread's name as the kernel knows it.
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func unroutableMandatoryPublishIsReportedReturned() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let exchange = TestBroker.uniqueName("x")
        try await channel.declareExchange(exchange, type: .topic, durable: false, autoDelete: true)
        let queue = try await channel.temporaryQueue()
        try await channel.bindQueue(queue, exchange: exchange, routingKey: "routed")

        let routed = try channel.publish([1], exchange: exchange, routingKey: "routed", mandatory: true)
        let returned = try channel.publish([2], exchange: exchange, routingKey: "nowhere", mandatory: true)
        let notMandatory = try channel.publish([3], exchange: exchange, routingKey: "nowhere", mandatory: false)
        #expect(try await routed.outcome() == .acked)
        #expect(try await returned.outcome() == .returned(replyCode: 312, replyText: "NO_ROUTE"))
        #expect(try await notMandatory.outcome() == .acked)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test func nackWithRequeueRedelivers() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        try await channel.qos(prefetchCount: 10)
        #expect(try await channel.publishAndConfirm([9], exchange: "", routingKey: queue) == .acked)
        let consumer = try await channel.consume(queue: queue)
        var iterator = consumer.makeAsyncIterator()
        let first = try #require(try await iterator.next())
        #expect(!first.redelivered)
        try channel.nack(first, requeue: true)
        let second = try #require(try await iterator.next())
        #expect(second.redelivered)
        #expect(second.body == [9])
        try channel.ack(second)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    /// Acks from many tasks in completion order, with nacks among them: the connection thread
    /// coalesces runs into `multiple` acks, and the broker must still see each message settled as
    /// asked, with no "unknown delivery tag" channel error.
    @Test func acksFromManyTasksAreCoalescedAndEveryMessageSettledAsAsked() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        try await channel.qos(prefetchCount: 500)
        let count = 2000
        var confirmations: [PublishConfirmation] = []
        for index in 0..<count {
            confirmations.append(try channel.publish(Array(String(index).utf8), exchange: "", routingKey: queue))
        }
        for confirmation in confirmations { #expect(try await confirmation.outcome() == .acked) }
        let consumer = try await channel.consume(queue: queue)
        var iterator = consumer.makeAsyncIterator()
        let nacked: Set<String> = ["7", "500", "1999"]
        var redelivered: [String] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<(count + nacked.count) {
                let delivery = try #require(try await iterator.next())
                let body = String(decoding: delivery.body, as: UTF8.self)
                if delivery.redelivered { redelivered.append(body) }
                let nack = nacked.contains(body) && !delivery.redelivered
                // Out of order, like commands that finish at different times.
                group.addTask {
                    try await Task.sleep(for: .microseconds(Int.random(in: 0...2000)))
                    if nack { try channel.nack(delivery, requeue: true) } else { try channel.ack(delivery) }
                }
            }
            try await group.waitForAll()
        }
        #expect(Set(redelivered) == nacked)
        let frames = channel.acknowledgementFramesSent
        #expect(frames < count, "\(frames) frames for \(count + nacked.count) settlements")
        // Closing requeues whatever is still unacked, so an empty queue afterwards means every
        // ack reached the broker; a stray frame would have closed the channel with an error.
        try await channel.close()
        let checker = try await connection.openChannel()
        let info = try await checker.checkQueue(queue)
        #expect(info.messageCount == 0)
        try await checker.deleteQueue(queue)
        await connection.close()
    }

    @Test func basicGetReturnsMessagesThenNil() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        #expect(try await channel.publishAndConfirm([1, 2], exchange: "", routingKey: queue, properties: .init(messageId: "g")) == .acked)
        let got = try #require(try await channel.get(queue: queue))
        #expect(got.body == [1, 2])
        #expect(got.properties.messageId == "g")
        #expect(got.messageCount == 0)
        try channel.ack(got)
        #expect(try await channel.get(queue: queue) == nil)
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test func publishOnChannelWithoutConfirmsIsRefused() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        #expect(throws: AMQPError.confirmsNotEnabled) { try channel.publish([1], exchange: "", routingKey: "q") }
        await connection.close()
    }
}
