import AMQP
import CoreMetrics
import Foundation
import GatewayConfig
import Logging
import OIFDEClient
import PipelineCore
import ServiceLifecycle
import Synchronization
import WorkModeDomain

/// The daemon: consumes commands, runs each to its end, and keeps going across broker losses until
/// told to stop. A `Service`, so SIGTERM and SIGINT start the drain of docs/contract.md section 4.
public final class Gateway: Service, Sendable {
    /// The configuration it runs with.
    public let configuration: GatewayConfiguration
    let logger: Logger
    let client: OIFDEClient
    let journal: CompletionJournal
    let journalLock: JournalLock
    let lanes = LaneBookDriver()
    let admission: AdmissionDriver
    let processor: CommandProcessor
    let decoder: CommandDecoder
    let metrics = GatewayMetrics()
    let pauses: PauseDriver
    let partitionActivity: PartitionActivity

    struct RunState {
        /// A stop was asked for: no session starts and none reconnects. Each session's own
        /// ``DrainDriver`` (PipelineCore's `Drain`) begins in the same lock, so the two never
        /// disagree; what a delivery may do is the session's drain's answer.
        var stopping = false
        var session: BrokerSession?
        var consumer: AMQPConsumer?
        var ready = false
        var inFlight: DrainDriver?
        /// Set while the broker has blocked the publisher connection (a resource alarm).
        var blockedReason: String?
        var running = false
        /// Tells the session's drain task to cancel the consumer.
        var drainRequested: AsyncStream<Void>.Continuation?
        /// Which of `amqp.url`'s nodes to try first.
        var nextAddress = 0
        /// False when `topology.declare: false` found no batch queue: live commands only.
        var hasBatchQueue = true
        /// The other replicas' partitions this one stands by on, once subscribed.
        var standby: StandbyPartitions?
        /// How the session's own consumer channel lets go of single-active queues (a drain).
        var handOver: HandOverDriver?
    }

    let runState = Mutex(RunState())

    /// Takes the journal's lock, opens the journal and builds the OIFDE client. Throws when the journal is locked by another process or cannot be
    /// opened.
    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.journalLock = try JournalLock(journal: configuration.dedupe.path)
        self.journal = try CompletionJournal(
            path: configuration.dedupe.path, capacity: configuration.dedupe.capacity, ttl: configuration.dedupe.ttl, logger: logger
        )
        if journal.droppedAtLoad > 0 {
            logger.warning("dropped torn or corrupt journal records at start", metadata: ["count": "\(journal.droppedAtLoad)"])
        }
        self.client = try OIFDEClient(configuration: configuration.oifdeClientConfiguration, logger: logger)
        self.admission = AdmissionDriver(settings: configuration.admissionSettings, logger: logger, metrics: metrics)
        self.pauses = PauseDriver(logger: logger)
        self.partitionActivity = PartitionActivity(partitions: configuration.topology.partitions, logger: logger)
        self.decoder = CommandDecoder(maxMessageBytes: configuration.pipeline.maxMessageBytes, authMode: configuration.oifde.authMode)
        self.processor = CommandProcessor(
            configuration: configuration, client: client, journal: journal, admission: admission, logger: logger, metrics: metrics,
            pauses: pauses
        )
    }

    /// True while connected, with the topology checked and the consumer active.
    public var isReady: Bool { notReadyReason == nil }

    /// Why the gateway is not ready (for `/health/ready`), or nil when it is.
    public var notReadyReason: String? {
        runState.withLock { state -> String? in
            if state.stopping { return "draining" }
            guard let session = state.session, session.isOpen else { return "broker connection down" }
            if !state.ready { return "consumer not active" }
            if let reason = state.blockedReason { return "broker blocked the connection: \(reason)" }
            return nil
        } ?? pauses.reason.map { "paused: " + $0 }
    }

    /// Sets the gauges that describe the current state; called before each scrape.
    public func observe() {
        let (session, inFlight) = runState.withLock { ($0.session, $0.inFlight) }
        metrics.brokerConnected.record((session?.isOpen ?? false) ? 1 : 0)
        metrics.ready.record(isReady ? 1 : 0)
        metrics.inFlight.record(inFlight?.value ?? 0)
        metrics.oldestInFlightAge.record(inFlight?.oldestAge?.timeInterval ?? 0)
        metrics.lanesWaiting.record(lanes.waitingLanes)
        metrics.admissionWaiting.record(admission.waitingCount)
        metrics.confirmsPending.record(session?.pendingConfirms ?? 0)
        partitionActivity.observe()
        let journalStatistics = journal.statistics
        metrics.journalBytes.record(journalStatistics.fileBytes)
        metrics.journalRecords.record(journalStatistics.records)
        metrics.journalEntries.record(journal.count)
        metrics.journalCompactions.record(journalStatistics.compactions)
        if let volume = journal.volume {
            metrics.journalVolumeSize.record(volume.sizeBytes)
            metrics.journalVolumeFree.record(volume.freeBytes)
        }
        let connections = client.connections
        metrics.connectionsInUse.record(connections.inUse)
        metrics.connectionsIdle.record(connections.idle)
        metrics.connectionWaiters.record(connections.waiting)
    }

    /// True from the start of `run()` until it returns.
    public var isRunning: Bool { runState.withLock { $0.running } }

    /// Consumes until a graceful shutdown (SIGTERM/SIGINT) has drained, reconnecting after broker losses; throws when the topology is refused.
    public func run() async throws {
        runState.withLock { $0.running = true }
        defer { runState.withLock { $0.running = false } }
        do {
            try await withGracefulShutdownHandler {
                try await self.runSessions()
            } onGracefulShutdown: {
                self.beginDrain()
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        logger.info("stopped")
    }

    private var stopping: Bool { runState.withLock { $0.stopping } }

    private func beginDrain() {
        // Before anything can be requeued by the drain: see `CommandProcessor.holdsReturns`.
        if holdsOnDrain { processor.holdsReturns.store(true, ordering: .sequentiallyConsistent) }
        // Before `draining` is seen: a fresh delivery is then held, never started (`HandOver`).
        if holdsOnDrain {
            let (own, standby) = runState.withLock { ($0.handOver, $0.standby) }
            own?.letGo()
            standby?.handOver.letGo()
        }
        // The drain's deadline counts from the stop, not from when the consumer is cancelled.
        let (request, actions) = runState.withLock { state -> (AsyncStream<Void>.Continuation?, [Drain<UInt64>.Action]) in
            state.stopping = true
            return (state.drainRequested, state.inFlight?.beginDrain(timeout: configuration.drainTimeout) ?? [])
        }
        logger.info(
            "stopping: no new commands; finishing those in flight", metadata: ["drainTimeout": "\(DurationText.format(configuration.drainTimeout))"])
        // As `Drain` answers. The handler is synchronous: the session's own task cancels the
        // consumer (one broker round trip), logged either way. Without a session there is none.
        if actions.contains(.cancelConsumer) { request?.yield() }
        // Deliveries waiting out a pause go back untouched now.
        pauses.wakeWaiters()
    }

    // MARK: - sessions

    private func runSessions() async throws {
        var reconnect = Reconnect()
        var random = SystemRandomNumberGenerator()
        // Cancelled when another service of the group failed (the admin listener could not bind):
        // a cancelled task's consumer stream ends at once, so looping on would reconnect without
        // end while the broker dead-letters every command at its delivery limit.
        while !stopping, !Task.isCancelled {
            let session: BrokerSession
            do {
                session = try await openSession()
            } catch let problem as Topology.Problem {
                // Not retried: a queue with other arguments stays that way. The caller logs it once.
                throw problem
            } catch let mismatch as Topology.PartitionMismatch {
                throw mismatch
            } catch {
                if case .wait(let delay) = reconnect.openFailed(using: &random) {
                    logger.warning("broker unavailable; retrying", metadata: ["error": "\(error)", "retryInMs": "\(Int(delay.timeInterval * 1000))"])
                    await sleepUnlessDraining(delay)
                }
                continue
            }
            let began = ContinuousClock.now
            let consumed = await serve(session)
            if !stopping {
                metrics.reconnects.increment()
                // The node that lost the session is tried last next time.
                runState.withLock { $0.nextAddress += 1 }
            }
            runState.withLock {
                $0.session = nil
                $0.consumer = nil
                $0.ready = false
            }
            await session.close()
            guard !stopping else { break }
            if consumed { logger.warning("broker connection lost; reconnecting") }
            if case .wait(let delay) = reconnect.sessionEnded(consumed: consumed, lasted: ContinuousClock.now - began, using: &random) {
                logger.warning("the session ended at once; reconnecting after a pause", metadata: ["retryInMs": "\(Int(delay.timeInterval * 1000))"])
                await sleepUnlessDraining(delay)
            }
        }
    }

    private func sleepUnlessDraining(_ delay: Duration) async {
        let end = ContinuousClock.now + delay
        while ContinuousClock.now < end, !stopping {
            try? await Task.sleep(for: min(.milliseconds(100), end - ContinuousClock.now))
        }
    }

    /// Opens a session on the first broker that answers, starting with the one after the node the
    /// last session lost (`amqp.url` may list several nodes of a cluster).
    private func openSession() async throws -> BrokerSession {
        let consumers = try configuration.amqp.connections(role: "consumer")
        let publishers = try configuration.amqp.connections(role: "publisher")
        let start = runState.withLock { $0.nextAddress } % max(1, consumers.count)
        var lastError: (any Error)?
        for offset in 0..<consumers.count {
            let index = (start + offset) % consumers.count
            do {
                let session = try await openSession(consumer: consumers[index], publisher: publishers[index])
                runState.withLock { $0.nextAddress = index }
                return session
            } catch let problem as Topology.Problem {
                throw problem
            } catch let mismatch as Topology.PartitionMismatch {
                throw mismatch
            } catch {
                lastError = error
                if consumers.count > 1 {
                    logger.warning("broker node unavailable; trying the next", metadata: ["amqp": "\(consumers[index])", "error": "\(error)"])
                }
            }
        }
        throw lastError ?? CancellationError()
    }

    private func openSession(consumer: AMQPConfiguration, publisher: AMQPConfiguration) async throws -> BrokerSession {
        let consumerConnection = try await AMQPConnection.connect(consumer)
        do {
            let publisherConnection = try await AMQPConnection.connect(publisher)
            let topology = Topology(configuration.topology)
            try await topology.checkPartitionCount(on: publisherConnection)
            var hasBatchQueue = true
            if configuration.topology.declare {
                let lines = try await topology.declare(on: publisherConnection)
                // Only what needs the operator: the earlier quorum dead-letter queue, kept.
                for line in lines where line.contains(Topology.migrateHint) { logger.warning("\(line)") }
                logger.info("\(topology.retentionLine)")
            } else {
                hasBatchQueue = try await topology.check(on: publisherConnection).hasBatchQueue
                if !hasBatchQueue {
                    logger.warning(
                        "the batch queue does not exist: consuming live commands only; `workmode-gateway topology declare` creates it",
                        metadata: ["queue": "\(topology.batchQueue)"])
                }
            }
            runState.withLock { $0.hasBatchQueue = hasBatchQueue }
            let consumerChannel = try await consumerConnection.openChannel()
            try await consumerChannel.qos(prefetchCount: UInt16(configuration.amqp.prefetch))
            let publisherChannel = try await publisherConnection.openChannel(publisherConfirms: true)
            logger.info("connected to the broker", metadata: ["amqp": "\(consumerConnection.configuration)"])
            return BrokerSession(
                consumerConnection: consumerConnection, consumerChannel: consumerChannel, publisherConnection: publisherConnection,
                publisherChannel: publisherChannel
            )
        } catch {
            await consumerConnection.close(gracePeriodSeconds: 1)
            throw error
        }
    }

    /// Consumes until the consumer ends (drain, cancel, or connection loss), then finishes what is
    /// in flight: within the drain timeout when stopping, at once when the connection is gone.
    /// - Returns: false when the broker refused the consumer.
    private func serve(_ session: BrokerSession) async -> Bool {
        guard let queues = await queuesToConsume(on: session) else { return false }
        partitionActivity.forgetTags()
        let handOver = HandOverDriver()
        let consumer: AMQPConsumer
        do {
            consumer = try await subscribe(to: queues.initial, owned: queues.owned, on: session, handOver: handOver)
        } catch {
            logger.warning("the consumer could not start; retrying", metadata: ["error": "\(error)"])
            return false
        }
        let inFlight = DrainDriver(holdsUntilClose: holdsOnDrain)
        let (drainRequests, drainRequest) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let stopAlready = runState.withLock { state -> Bool in
            state.session = session
            state.consumer = consumer
            state.ready = true
            state.inFlight = inFlight
            state.blockedReason = nil
            state.drainRequested = drainRequest
            state.handOver = handOver
            if state.stopping { inFlight.beginDrain(timeout: configuration.drainTimeout) }
            return state.stopping
        }
        if stopAlready {
            handOver.letGo()
            drainRequest.yield()
        }
        logger.info("consuming", metadata: ["queue": "\(queues.initial.joined(separator: ","))", "prefetch": "\(configuration.amqp.prefetch)"])

        await withDiscardingTaskGroup { group in
            let standbyTask = Task { [standby = queues.standby] in await self.standBy(on: standby, session: session, inFlight: inFlight) }
            group.addTask {
                await self.answerDrainRequest(drainRequests, consumer: consumer, session: session, handOver: handOver, inFlight: inFlight)
            }
            // Either connection ending ends the session.
            group.addTask {
                _ = await session.publisherConnection.waitForTermination()
                await session.consumerConnection.close(gracePeriodSeconds: 1)
                self.pauses.wakeWaiters()
            }
            group.addTask { await self.followPublishingBlocks(on: session) }
            do {
                for try await delivery in consumer {
                    await handle(
                        delivery, channel: session.consumerChannel, session: session, inFlight: inFlight, handOver: handOver, standby: nil,
                        group: &group)
                }
            } catch {
                logger.warning("consumer ended", metadata: ["error": "\(error)"])
            }
            await finish(session, inFlight: inFlight, standbyTask: standbyTask, group: &group)
            drainRequest.finish()
            runState.withLock { $0.drainRequested = nil }
            await session.close()
        }
        return true
    }

    /// Which queues this replica consumes at once and which it stands by on, with its ordinal
    /// claimed; nil when the claim failed (the session is retried).
    private func queuesToConsume(on session: BrokerSession) async -> (initial: [String], standby: [String], owned: Set<String>)? {
        let ownsOrdinal: Bool
        do {
            ownsOrdinal = try await OrdinalClaim.claim(configuration, on: session.consumerConnection, logger: logger)
        } catch {
            logger.warning("the ordinal could not be claimed; retrying", metadata: ["error": "\(error)"])
            return nil
        }
        var (initial, standby) = subscriptions(owning: ownsOrdinal)
        if initial.isEmpty {
            // More replicas than partitions, an ordinal past replicas.count (a scale-down in
            // progress) or held by another replica: this one owns none and waits as a standby for all.
            if configuration.replicas.ordinal >= configuration.replicas.count {
                logger.notice(
                    "replicas.ordinal \(configuration.replicas.ordinal) is not below replicas.count \(configuration.replicas.count): standby for every partition",
                    metadata: ["standbyDelay": "\(DurationText.format(configuration.replicas.standbyDelay))"])
            }
            await sleepUnlessDraining(configuration.replicas.standbyDelay)
            (initial, standby) = (standby, [])
        }
        let owned = Set(
            ownsOrdinal
                ? configuration.replicas.ownPartitions(of: configuration.topology.partitions).map(Topology(configuration.topology).partitionQueue)
                : [])
        return (initial, standby, owned)
    }

    /// One consumer on the session's channel over `queues`. A replica's own partitions carry a
    /// consumer priority above its standbys': on RabbitMQ 4.x a returning owner takes its
    /// partitions back from the standby that stood in, after the broker has let that one settle
    /// what it holds (in order). 3.10 ignores it (docs/deploy.md).
    private func subscribe(
        to queues: [String], owned: Set<String>, on session: BrokerSession, handOver: HandOverDriver
    ) async throws -> AMQPConsumer {
        func arguments(_ queue: String) -> FieldTable { owned.contains(queue) ? ["x-priority": .int32(Self.ownerPriority)] : [:] }
        let consumer = try await session.consumerChannel.consume(queue: queues[0], arguments: arguments(queues[0]))
        if let tag = consumer.tags.first {
            registerPartition(queues[0], tag: tag)
            handOver.register(tag: tag, queue: queues[0])
        }
        for queue in queues.dropFirst() {
            let tag = try await session.consumerChannel.consume(queue: queue, joining: consumer, arguments: arguments(queue))
            registerPartition(queue, tag: tag)
            handOver.register(tag: tag, queue: queue)
        }
        return consumer
    }

    /// A drain cancels the consumers first, so the broker sends nothing more; what it had already
    /// sent is returned by the consumer loops. Not on single-active-consumer queues (partitions
    /// too): there a cancel makes the next consumer active at once, which would start a call's
    /// later commands while this replica still holds earlier ones. There nothing more is started,
    /// and the connection's close returns what was held in the same step that activates the next
    /// consumer (docs/guarantees.md).
    private func answerDrainRequest(
        _ requests: AsyncStream<Void>, consumer: AMQPConsumer, session: BrokerSession, handOver: HandOverDriver, inFlight: DrainDriver
    ) async {
        for await _ in requests {
            if holdsOnDrain {
                // Ends the consumer loops without a cancel once the returns ahead of what is held
                // are settled (`HandOver`); the drain runs as usual, and the connection's close at
                // its end returns what was held.
                logger.info("draining: no new command starts; the close returns what the broker sent, in order, to the next consumer")
                await letGo(own: handOver, inFlight: inFlight, session: session)
                consumer.stopReceiving()
                runState.withLock { $0.standby }?.consumer?.stopReceiving()
                return
            }
            await stopStandby()
            do {
                try await session.consumerChannel.cancel(consumer)
                logger.info("consumer cancelled: the broker sends no more commands")
            } catch {
                logger.warning("cancelling the consumer failed; deliveries that still arrive go back to the queue", metadata: ["error": "\(error)"])
            }
            return
        }
    }

    /// A resource alarm blocks publishing: not ready until the broker lifts it. The stream ends
    /// with the connection.
    private func followPublishingBlocks(on session: BrokerSession) async {
        for await event in session.publisherConnection.events {
            switch event {
            case .blocked(let reason):
                logger.warning("the broker blocked publishing", metadata: ["reason": "\(reason)"])
                runState.withLock { $0.blockedReason = reason.isEmpty ? "resource alarm" : reason }
            case .unblocked:
                logger.info("the broker unblocked publishing")
                runState.withLock { $0.blockedReason = nil }
            }
        }
    }

    /// The consumer has ended: when stopping, lets what is in flight finish within the drain
    /// timeout and cuts the rest short; when the connection is gone, stops everything at once (acks
    /// are void, the broker redelivers). Ends the standby either way.
    private func finish(_ session: BrokerSession, inFlight: DrainDriver, standbyTask: Task<Void, Never>, group: inout DiscardingTaskGroup) async {
        if !stopping, session.isOpen {
            logger.warning("the consumer stream ended while the connections were open")
        }
        runState.withLock { $0.ready = false }
        if stopping {
            let finished = await inFlight.waitUntilDrained(timeout: configuration.drainTimeout)
            if finished {
                logger.info("drained: every command in flight finished")
            } else {
                logger.warning("drain timeout reached; requeueing unfinished commands", metadata: ["unfinished": "\(inFlight.value)"])
                group.cancelAll()
                standbyTask.cancel()
                session.abandonSettlements(because: "the drain ran out of time before the broker confirmed")
                await inFlight.waitUntilEmpty(timeout: .seconds(30))
            }
        } else {
            group.cancelAll()
            standbyTask.cancel()
            session.abandonSettlements(because: "the broker connection was lost before it confirmed")
        }
        // Ends the drain task and the watchers.
        standbyTask.cancel()
        await standbyTask.value
    }

    /// The queues to consume at once and, after `replicas.standbyDelay`, as a standby
    /// (docs/contract.md section 11): with partitions, this replica's share first (none when
    /// another replica holds its ordinal). The batch queue (section 12) goes with the first group.
    func subscriptions(owning: Bool = true) -> (initial: [String], standby: [String]) {
        let topology = Topology(configuration.topology)
        let batch = runState.withLock { $0.hasBatchQueue } ? [topology.batchQueue] : []
        let partitions = configuration.topology.partitions
        guard partitions > 0 else { return (topology.commandQueues + batch, []) }
        let own = owning ? configuration.replicas.ownPartitions(of: partitions).map(topology.partitionQueue) : []
        let standby = (owning ? configuration.replicas.standbyPartitions(of: partitions) : Array(0..<partitions)).map(topology.partitionQueue)
        return own.isEmpty ? ([], standby + batch) : (own + batch, standby)
    }

    /// Remembers which partition a consumer tag reads (queues that are not partitions are ignored).
    private func registerPartition(_ queue: String, tag: String) {
        let topology = Topology(configuration.topology)
        guard let index = (0..<configuration.topology.partitions).first(where: { topology.partitionQueue($0) == queue }) else { return }
        partitionActivity.register(tag: tag, partition: index)
    }

    /// The consumer priority of a replica on its own partitions (standbys have the default, 0).
    static let ownerPriority: Int32 = 10

    /// True when the commands queues have a single active consumer (partitions, or
    /// `topology.singleActiveConsumer`): a drain holds deliveries instead of cancelling first.
    var holdsOnDrain: Bool { configuration.topology.partitions > 0 || configuration.topology.singleActiveConsumer }

    /// A delivery the drain will not start goes back to the queue now, or is held for the
    /// channel's close, as ``Drain`` answered.
    private func returnUntouched(_ delivery: Delivery, _ admission: Drain<UInt64>.Admission, on channel: AMQPChannel) {
        guard admission == .requeue else { return }
        try? channel.nack(delivery, requeue: true)
    }

    /// Starts one delivery: counted in, in its call's lane, then processed to its end; or back to
    /// the queue untouched when stopping.
    private func handle(
        _ delivery: Delivery, channel: AMQPChannel, session: BrokerSession, inFlight: DrainDriver, handOver: HandOverDriver,
        standby: StandbyPartitions?, group: inout DiscardingTaskGroup
    ) async {
        if configuration.topology.partitions > 0 { partitionActivity.delivered(consumerTag: delivery.consumerTag) }
        // On single-active queues a drain or a hand-back holds what it will not start, for the
        // channel's close to return in place; it still starts the returns ahead of those.
        var aheadOfHeld = false
        if holdsOnDrain {
            guard (standby?.admit(delivery) ?? handOver.decide(delivery)) == .start else { return }
            aheadOfHeld = handOver.isLettingGo
        }
        let received = processor.receive(delivery, on: channel, decoder: decoder)
        // Stopping: what the broker had already sent goes back untouched, before it could wait out
        // a pause. On single-active queues it is held, never nacked, even when the drain began
        // after `HandOver` let it start (a loaded CI run applied step 17 of a call after 18).
        let early = inFlight.admission(aheadOfHeld: aheadOfHeld)
        guard early == .process else {
            returnUntouched(delivery, early, on: channel)
            standby?.settled()
            return
        }
        // While the journal or the broker's publishes fail, new commands wait here, unacked:
        // nothing is redelivered, nothing counts toward the delivery limit.
        if pauses.isPaused {
            await pauses.waitWhilePaused { self.stopping || !session.isOpen }
            // The connection is gone: the tag is void and the broker redelivers.
            guard session.isOpen else {
                standby?.settled()
                return
            }
        }
        // The session's drain decides (a stop during the pause began it).
        let entry: UInt64
        switch inFlight.increment(aheadOfHeld: aheadOfHeld) {
        case .success(let counted):
            entry = counted
        case .failure(let untouched):
            returnUntouched(delivery, untouched.admission, on: channel)
            standby?.settled()
            return
        }
        let lanes = self.lanes
        let ticket = (try? received.decoded.get()).map { lanes.register($0.laneKey) }
        let holds = holdsOnDrain
        let settled: @Sendable () -> Void = {
            if let ticket { lanes.leave(ticket) }
            // Before the count: a drain that sees nothing in flight also sees this settlement.
            if holds { handOver.settled() }
            inFlight.decrement(entry)
            standby?.settled()
        }
        // Runs here, on the consumer's thread, until it first waits (for its lane, a slot, OIFDE):
        // no hand-off to another pool thread before the request goes out.
        group.addImmediateTask {
            // A drain that ran out of time cancels the wait: the command goes back untouched
            // instead of waiting for the commands ahead of it.
            if let ticket, await !ticket.waitForTurn() {
                _ = self.processor.settle(received, session: session, published: false)
                settled()
            } else {
                // The lane and the count are released once the delivery is settled, which may be
                // after this task ends (on the broker's confirm).
                await self.processor.process(received, session: session, whenSettled: settled)
            }
        }
    }

    /// Stands by on the other replicas' partitions, on a channel of its own, after
    /// `replicas.standbyDelay`: the broker makes this replica active on one only when its active
    /// consumer is gone. Hands partitions back to their returning owner (``StandbyPartitions``)
    /// and stands by again behind it; returns when the session ends or drains.
    private func standBy(on queues: [String], session: BrokerSession, inFlight: DrainDriver) async {
        guard !queues.isEmpty else { return }
        while true {
            await sleepUnlessDraining(configuration.replicas.standbyDelay)
            guard !Task.isCancelled, !stopping, session.isOpen else { return }
            let standby: StandbyPartitions
            let consumer: AMQPConsumer
            do {
                let channel = try await session.consumerConnection.openChannel()
                // The same prefetch as the owner's channel: a close (or a crash) returns at most
                // that many, and a standby that becomes active then takes all of them at once, so
                // none is still waiting behind what this channel's own close or crash would return
                // (`HandOver`). A smaller one reordered calls when a standby was killed.
                try await channel.qos(prefetchCount: UInt16(clamping: configuration.amqp.prefetch))
                standby = StandbyPartitions(channel: channel)
                consumer = try await channel.consume(queue: queues[0])
                standby.subscribed(consumer)
                for (index, queue) in queues.enumerated() {
                    let tag = index == 0 ? (consumer.tags.first ?? consumer.tag) : try await channel.consume(queue: queue, joining: consumer)
                    registerPartition(queue, tag: tag)
                    if let partition = partitionIndex(of: queue) { standby.register(tag: tag, queue: queue, partition: partition) }
                }
            } catch {
                // The session is ending (its connection failed); the next one subscribes again.
                logger.warning("the standby subscription failed", metadata: ["error": "\(error)"])
                return
            }
            let stopped = runState.withLock { state -> Bool in
                guard !state.stopping else { return true }
                state.standby = standby
                return false
            }
            if stopped {
                try? await standby.channel.close()
                return
            }
            logger.info("standby for the other replicas' partitions", metadata: ["queue": "\(queues.joined(separator: ","))"])
            let watch = Task { await self.watchOwners(of: standby, session: session) }
            await withDiscardingTaskGroup { group in
                do {
                    for try await delivery in consumer {
                        await handle(
                            delivery, channel: standby.channel, session: session, inFlight: inFlight, handOver: standby.handOver,
                            standby: standby, group: &group)
                    }
                } catch {
                    if !standby.isRetiring { logger.warning("the standby consumer ended", metadata: ["error": "\(error)"]) }
                }
            }
            watch.cancel()
            runState.withLock { state in
                if state.standby === standby { state.standby = nil }
            }
            // Handed back: stand by again, now behind the owner.
            guard standby.isRetiring, !stopping, session.isOpen, !Task.isCancelled else { return }
        }
    }

    /// A drain on single-active queues: returns once nothing is in flight and both consumer
    /// channels may close (`HandOver`), or when the drain's time is up; then everything is held.
    private func letGo(own: HandOverDriver, inFlight: DrainDriver, session: BrokerSession) async {
        let end = ContinuousClock.now + configuration.drainTimeout
        let readyCounts = Self.readyCounts(on: session)
        while ContinuousClock.now < end, !Task.isCancelled {
            if inFlight.value == 0 {
                let standby = runState.withLock { $0.standby }?.handOver
                let ownClosing = await own.closing(asking: readyCounts)
                let standbyClosing = await standby?.closing(asking: readyCounts) ?? .now
                if ownClosing == .now, standbyClosing == .now { break }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        own.seal()
        runState.withLock { $0.standby }?.handOver.seal()
    }

    /// Messages ready on queues, asked on a channel of its own: a passive declare of a queue that
    /// is gone closes the channel it is asked on.
    static func readyCounts(on session: BrokerSession) -> HandOverDriver.ReadyCounts {
        { queues in
            guard let channel = try? await session.publisherConnection.openChannel() else { return [:] }
            var counts: [String: Int] = [:]
            for queue in queues {
                guard let info = try? await channel.checkQueue(queue) else { break }
                counts[queue] = Int(info.messageCount)
            }
            try? await channel.close()
            return counts
        }
    }

    /// A drain: the standby consumer stops, and its loop ends once what it started is settled.
    private func stopStandby() async {
        guard let standby = runState.withLock({ $0.standby }), let consumer = standby.consumer else { return }
        try? await standby.channel.cancel(consumer)
    }

    /// Hands a partition back once its owner has returned and the broker has not given it back by
    /// itself (RabbitMQ 3.10; docs/deploy.md).
    private func watchOwners(of standby: StandbyPartitions, session: BrokerSession) async {
        // A broker that honours consumer priority (4.x) stops delivering a partition to this
        // replica as soon as its owner subscribes, which the owner does within milliseconds of
        // claiming its ordinal: a second of deliveries after that is proof enough that it will
        // not hand over by itself (3.10).
        let interval = max(Duration.milliseconds(250), min(configuration.replicas.standbyDelay, .seconds(1)))
        while !Task.isCancelled, !stopping, session.isOpen {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled, !stopping, session.isOpen else { return }
            let now = ContinuousClock.now
            var due: [Int] = []
            var presence: [Int: Bool] = [:]
            for partition in standby.partitions {
                let owner = partition % configuration.replicas.count
                if presence[owner] == nil {
                    presence[owner] = try? await OrdinalClaim.isHeld(ordinal: owner, configuration: configuration, on: session.consumerConnection)
                }
                guard let present = presence[owner] else { continue }
                if standby.ownerBack(partition, present: present, at: now, grace: interval) { due.append(partition) }
            }
            guard !due.isEmpty else { continue }
            let names = due.map { "p\($0)" }.joined(separator: ",")
            logger.notice("handing partitions back to their returning owners", metadata: ["partitions": "\(names)"])
            // Started commands finish first, so an owner never starts a call's next command
            // before this replica's is settled.
            await standby.retire(asking: Self.readyCounts(on: session))
            try? await standby.channel.close()
            logger.notice("handed partitions back; standing by again after replicas.standbyDelay", metadata: ["partitions": "\(names)"])
            return
        }
    }

    private func partitionIndex(of queue: String) -> Int? {
        let topology = Topology(configuration.topology)
        return (0..<configuration.topology.partitions).first { topology.partitionQueue($0) == queue }
    }
}
