import Testing

@testable import AMQP

@Suite(.timeLimit(.minutes(10))) struct ConfirmTrackerTests {
    typealias Tracker = ConfirmTracker<Int>

    func publish(_ tracker: inout Tracker, _ token: Int, mandatory: Bool = false, routingKey: String = "rk", messageId: String? = nil) -> UInt64 {
        tracker.published(.init(token: token, mandatory: mandatory, exchange: "x", routingKey: routingKey, messageId: messageId, returned: nil))
    }

    @Test func sequenceNumbersStartAtOne() {
        var t = Tracker()
        #expect(publish(&t, 10) == 1)
        #expect(publish(&t, 11) == 2)
    }

    @Test func multipleAckResolvesEverythingUpToTheTag() {
        var t = Tracker()
        for i in 1...5 { _ = publish(&t, i) }
        let resolved = t.confirmed(tag: 3, multiple: true, ack: true)
        #expect(resolved.map(\.0) == [1, 2, 3])
        #expect(resolved.allSatisfy { $0.1 == .acked })
        #expect(t.outstandingCount == 2)
    }

    @Test func outOfOrderAcksThenMultiple() {
        var t = Tracker()
        for i in 1...6 { _ = publish(&t, i) }
        let r1 = t.confirmed(tag: 6, multiple: false, ack: true)
        #expect(r1.map(\.0) == [6])
        let r2 = t.confirmed(tag: 2, multiple: false, ack: false)
        #expect(r2.map { $0.1 } == [.nacked])
        let rest = t.confirmed(tag: 5, multiple: true, ack: true)
        #expect(rest.map(\.0) == [1, 3, 4, 5])
        #expect(t.outstandingCount == 0)
    }

    @Test func unknownAndRepeatedTagsResolveNothing() {
        var t = Tracker()
        _ = publish(&t, 1)
        let r3 = t.confirmed(tag: 9, multiple: false, ack: true)
        #expect(r3.isEmpty)
        let r4 = t.confirmed(tag: 1, multiple: false, ack: true)
        #expect(r4.count == 1)
        let r5 = t.confirmed(tag: 1, multiple: false, ack: true)
        #expect(r5.isEmpty)
        let r6 = t.confirmed(tag: 99, multiple: true, ack: true)
        #expect(r6.isEmpty)
    }

    @Test func returnIsReportedInsteadOfTheAck() {
        var t = Tracker()
        _ = publish(&t, 1, mandatory: true, routingKey: "routed")
        _ = publish(&t, 2, mandatory: true, routingKey: "nowhere", messageId: "m2")
        _ = publish(&t, 3, mandatory: true, routingKey: "nowhere", messageId: "m3")
        let r7 = t.returned(exchange: "x", routingKey: "nowhere", messageId: "m3", code: 312, text: "NO_ROUTE")
        #expect(r7)
        let resolved = t.confirmed(tag: 3, multiple: true, ack: true)
        #expect(resolved.map(\.1) == [.acked, .acked, .returned(replyCode: 312, replyText: "NO_ROUTE")])
    }

    @Test func returnsMatchTheEarliestUnreturnedPublish() {
        var t = Tracker()
        _ = publish(&t, 1, mandatory: true, routingKey: "nowhere")
        _ = publish(&t, 2, mandatory: true, routingKey: "nowhere")
        let r8 = t.returned(exchange: "x", routingKey: "nowhere", messageId: nil, code: 312, text: "NO_ROUTE")
        #expect(r8)
        let r9 = t.returned(exchange: "x", routingKey: "nowhere", messageId: nil, code: 312, text: "NO_ROUTE")
        #expect(r9)
        let r10 = t.returned(exchange: "x", routingKey: "nowhere", messageId: nil, code: 312, text: "NO_ROUTE")
        #expect(!r10)
        let r11 = t.confirmed(tag: 2, multiple: true, ack: true)
        #expect(r11.allSatisfy { if case .returned = $0.1 { true } else { false } })
    }

    @Test func nonMandatoryPublishesAreNeverMarkedReturned() {
        var t = Tracker()
        _ = publish(&t, 1, mandatory: false, routingKey: "nowhere")
        let r12 = t.returned(exchange: "x", routingKey: "nowhere", messageId: nil, code: 312, text: "NO_ROUTE")
        #expect(!r12)
    }

    @Test func drainGivesEverythingInOrderAndEmpties() {
        var t = Tracker()
        for i in 1...4 { _ = publish(&t, i) }
        _ = t.confirmed(tag: 2, multiple: false, ack: true)
        let r13 = t.drain()
        #expect(r13 == [1, 3, 4])
        #expect(t.outstandingCount == 0)
        let r14 = t.confirmed(tag: 4, multiple: true, ack: true)
        #expect(r14.isEmpty)
        #expect(publish(&t, 5) == 5)
    }
}

@Suite(.timeLimit(.minutes(10))) struct PublishConfirmationCancellationTests {
    @Test func aCancelledWaitEndsAtOnceAndTheAnswerCanStillBeRead() async throws {
        let confirmation = PublishConfirmation()
        let waiter = Task { try await confirmation.outcome() }
        // Let it store its continuation (or not: both orders must end the wait).
        await Task.yield()
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        confirmation.resolve(.success(.acked))
        #expect(try await confirmation.outcome() == .acked)
    }

    @Test func cancellationBeforeWaitingIsSeen() async {
        let confirmation = PublishConfirmation()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await confirmation.outcome()
        }
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
    }
}
