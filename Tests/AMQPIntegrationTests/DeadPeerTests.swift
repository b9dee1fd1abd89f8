import AMQP
import Foundation
import Testing

/// A peer that goes silent (no FIN, no RST) must be noticed within about two heartbeat intervals,
/// whether the client is idle, consuming, or only publishing (librabbitmq 0.11's publish can
/// otherwise block forever: rabbitmq-c #780).
@Suite(.timeLimit(.minutes(10))) struct DeadPeerTests {
    func connectThroughProxy(heartbeat: Int) async throws -> (AMQPConnection, BlackHoleProxy) {
        let direct = try TestBroker.configuration(heartbeat: heartbeat)
        let proxy = try BlackHoleProxy(upstreamPort: direct.port)
        var configuration = direct
        configuration.port = proxy.port
        return (try await AMQPConnection.connect(configuration), proxy)
    }

    @Test func silentPeerIsDetectedWhileOnlyPublishing() async throws {
        let (connection, proxy) = try await connectThroughProxy(heartbeat: 2)
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = try await channel.temporaryQueue()
        #expect(try await channel.publishAndConfirm([0], exchange: "", routingKey: queue) == .acked)
        proxy.freeze()
        let frozenAt = ContinuousClock.now
        var confirmations: [PublishConfirmation] = []
        // Keep publishing, as a busy publisher would; every confirm must fail, none may hang.
        while connection.isOpen, ContinuousClock.now - frozenAt < .seconds(30) {
            if let confirmation = try? channel.publish([1], exchange: "", routingKey: queue) { confirmations.append(confirmation) }
            try await Task.sleep(for: .milliseconds(100))
        }
        let detectedAfter = ContinuousClock.now - frozenAt
        #expect(!connection.isOpen)
        // Two heartbeats (4 s) when the machine is idle; the bound leaves room for a loaded one (a
        // clean-clone CI run, compiling and running a browser beside it, once took 12.4 s). Without
        // heartbeats a frozen peer is never detected (TCP keepalive takes hours).
        #expect(detectedAfter < .seconds(20), "detected after \(detectedAfter)")
        guard case .connectionLost = await connection.waitForTermination() else {
            Issue.record("expected connectionLost")
            return
        }
        await #expect(throws: AMQPError.self) { _ = try await channel.publishAndConfirm([2], exchange: "", routingKey: queue) }
        // What was published into the frozen connection was never confirmed: each ends in an error
        // now, none is left waiting, none reads as acked.
        #expect(!confirmations.isEmpty)
        for confirmation in confirmations {
            await #expect(throws: AMQPError.self) { _ = try await confirmation.outcome() }
        }
        await connection.close(gracePeriodSeconds: 1)
        let cleanup = try await TestBroker.connect()
        try await cleanup.openChannel().deleteQueue(queue)
        await cleanup.close()
    }

    @Test func silentPeerIsDetectedWhileIdleConsuming() async throws {
        let (connection, proxy) = try await connectThroughProxy(heartbeat: 2)
        let channel = try await connection.openChannel()
        let queue = try await channel.temporaryQueue()
        let consumer = try await channel.consume(queue: queue)
        proxy.freeze()
        let frozenAt = ContinuousClock.now
        let error = await #expect(throws: AMQPError.self) { _ = try await next(consumer, within: 30) }
        guard case .connectionLost? = error else {
            Issue.record("expected connectionLost, got \(String(describing: error))")
            return
        }
        // Two heartbeats (4 s) when idle; room for a loaded machine, as above.
        #expect(ContinuousClock.now - frozenAt < .seconds(20))
        await connection.close(gracePeriodSeconds: 1)
        let cleanup = try await TestBroker.connect()
        try await cleanup.openChannel().deleteQueue(queue)
        await cleanup.close()
    }

    @Test func closeOfAFrozenConnectionReturnsPromptly() async throws {
        let (connection, proxy) = try await connectThroughProxy(heartbeat: 30)
        _ = try await connection.openChannel()
        proxy.freeze()
        let started = ContinuousClock.now
        await connection.close(gracePeriodSeconds: 2)
        // Without the socket shutdown it would wait for the 30 s heartbeat twice over; the bound
        // leaves room for a loaded machine and still tells the two apart.
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(!connection.isOpen)
    }
}
