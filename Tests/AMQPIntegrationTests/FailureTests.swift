import AMQP
import Foundation
import Testing

@Suite(.timeLimit(.minutes(10))) struct FailureTests {
    @Test func channelErrorIsTypedAndTheConnectionSurvives() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.uniqueName("q")
        try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": .string("quorum")])
        let error = await #expect(throws: AMQPError.self) {
            try await channel.declareQueue(queue, durable: true, arguments: ["x-queue-type": .string("classic")])
        }
        #expect(error?.replyCode == 406)
        guard case .channelClosed(_, let text)? = error else {
            Issue.record("expected channelClosed, got \(String(describing: error))")
            return
        }
        #expect(text.contains("PRECONDITION_FAILED"))
        #expect(text.contains("x-queue-type"))
        #expect(!channel.isOpen)
        // The closed channel refuses further work with the same reason.
        await #expect(throws: AMQPError.self) { try await channel.checkQueue(queue) }
        #expect(connection.isOpen)
        let fresh = try await connection.openChannel()
        let info = try await fresh.checkQueue(queue)
        #expect(info.name == queue)
        try await fresh.deleteQueue(queue)
        await connection.close()
    }

    @Test func passiveCheckOfMissingQueueIs404() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        await #expect(
            throws: AMQPError.channelClosed(code: 404, text: "NOT_FOUND - no queue 'does-not-exist-\(connection.heartbeatSeconds)' in vhost '/'")
        ) {
            _ = try await channel.checkQueue("does-not-exist-\(connection.heartbeatSeconds)")
        }
        await connection.close()
    }

    @Test func staleDeliveryTagIsRefusedNotSent() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        #expect(try await channel.publishAndConfirm([1], exchange: "", routingKey: queue) == .acked)
        let delivery = try #require(try await channel.get(queue: queue))
        try await channel.close()
        #expect(throws: AMQPError.staleDeliveryTag(delivery.tag)) { try channel.ack(delivery) }
        // A new channel (which may reuse the number) must not accept the old tag either.
        let other = try await connection.openChannel()
        #expect(throws: AMQPError.staleDeliveryTag(delivery.tag)) { try other.ack(delivery) }
        // The message went back to the queue with the channel, and the connection is healthy.
        let again = try #require(try await other.get(queue: queue))
        #expect(again.redelivered)
        try other.ack(again)
        try await other.deleteQueue(queue)
        #expect(connection.isOpen)
        await connection.close()
    }

    @Test func deletedQueueCancelsItsConsumerVisibly() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = try await channel.temporaryQueue()
        let consumer = try await channel.consume(queue: queue)
        let admin = try await TestBroker.connect()
        let adminChannel = try await admin.openChannel()
        try await adminChannel.deleteQueue(queue)
        let error = await #expect(throws: AMQPError.self) { _ = try await next(consumer, within: 10) }
        #expect(error == .consumerCancelled(consumerTag: consumer.tag))
        #expect(connection.isOpen)
        await admin.close()
        await connection.close()
    }

    @Test func brokerForceCloseReachesConsumerAndPublisherBeforeAHeartbeatCould() async throws {
        let name = TestBroker.uniqueName("force-close")
        // Heartbeats so far apart that only the broker's close frame can end the consumer in time:
        // a client that missed the frame would learn of the close from missed heartbeats, after
        // two intervals at the earliest, and with another error.
        let heartbeat = 60
        let connection = try await TestBroker.connect(name: name, heartbeat: heartbeat)
        let setup = try await connection.openChannel(publisherConfirms: true)
        let queue = try await setup.temporaryQueue()
        let consumer = try await setup.consume(queue: queue)
        #expect(try await TestBroker.forceClose(connectionNamed: name) == 1)
        // From when rabbitmqctl returns (the broker has closed it by then): its own start-up is
        // seconds on a loaded machine and says nothing about the client.
        let started = ContinuousClock.now
        let error = await #expect(throws: AMQPError.self) { _ = try await next(consumer, within: Double(heartbeat)) }
        guard case .connectionClosedByBroker(let code, let text)? = error else {
            Issue.record("expected connectionClosedByBroker, got \(String(describing: error))")
            return
        }
        #expect(code == 320)
        #expect(text.contains("closed by test"))
        // A bound from the mechanism it must beat, not from this machine's speed: a loaded run took
        // 5.07 s against the 5 s this once was (the test process's threads busy with other suites).
        #expect(ContinuousClock.now - started < .seconds(heartbeat))
        await #expect(throws: AMQPError.self) { _ = try await setup.publishAndConfirm([1], exchange: "", routingKey: queue) }
        #expect(!connection.isOpen)
        let reason = await connection.waitForTermination()
        #expect(reason.replyCode == 320)
        let cleanup = try await TestBroker.connect()
        try await cleanup.openChannel().deleteQueue(queue)
        await cleanup.close()
    }

    @Test func idleConnectionWithShortHeartbeatStaysOpen() async throws {
        let connection = try await TestBroker.connect(heartbeat: 2)
        #expect(connection.heartbeatSeconds == 2)
        // Idle for five heartbeat intervals: the idle time is the scenario, not a wait for something.
        try await Task.sleep(for: .seconds(10))
        #expect(connection.isOpen)
        let channel = try await connection.openChannel()
        let queue = try await channel.temporaryQueue()
        try await channel.deleteQueue(queue)
        await connection.close()
    }

    @Test func wrongPasswordIsALoginError() async throws {
        var configuration = try TestBroker.configuration()
        configuration.password = "definitely-wrong"
        await #expect {
            _ = try await AMQPConnection.connect(configuration)
        } throws: { error in
            guard case AMQPError.loginRefused(let text) = error else { return false }
            return !text.contains("definitely-wrong")
        }
    }

    @Test func nothingListeningIsAConnectError() async throws {
        var configuration = try TestBroker.configuration()
        configuration.port = 1
        await #expect {
            _ = try await AMQPConnection.connect(configuration)
        } throws: { error in
            if case AMQPError.connectFailed = error { return true }
            return false
        }
    }
}
