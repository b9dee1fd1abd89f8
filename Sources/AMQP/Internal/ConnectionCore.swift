internal import CRabbitMQ
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The librabbitmq connection and everything that touches it.
///
/// librabbitmq is blocking and not thread-safe, so one dedicated OS thread owns the connection
/// state: it connects, runs every C call, reads every frame, and runs work that other threads
/// submit through ``submit(_:)``. It never runs on Swift's cooperative pool.
///
/// `@unchecked Sendable`: the C state and every `var` below the "owner thread only" mark are used
/// only on the owner thread; what other threads touch is behind a `Mutex` or `Atomic`.
final class ConnectionCore: @unchecked Sendable {
    typealias Work = @Sendable (ConnectionCore) -> Void

    /// Acks are the most frequent submission; they travel as plain values rather than closures.
    struct AckRequest {
        let channel: ChannelShared
        let tag: DeliveryTag
        let kind: Acknowledgement
    }

    struct Inbox {
        var acks: [AckRequest] = []
        var work: [Work] = []
        var ownerIsSleeping = false
        var closed = false
    }

    let configuration: AMQPConfiguration
    private let inbox = Mutex(Inbox())
    private let wakeFD: Int32
    /// The socket, for the close watchdog: `shutdown(2)` from another thread is the one safe way to
    /// unblock a librabbitmq call stuck on a dead or blocked peer.
    let socketFD = Atomic<Int32>(-1)
    let terminal = Mutex<AMQPError?>(nil)
    private let terminationWaiters = Mutex<[CheckedContinuation<AMQPError, Never>]>([])
    let events: AsyncStream<ConnectionEvent>
    let eventSink: AsyncStream<ConnectionEvent>.Continuation
    let negotiatedHeartbeat = Atomic<Int>(0)
    private let threadExited = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    // MARK: - owner thread only

    var state: amqp_connection_state_t?
    let arena = CArena()
    /// Deliveries read in the current pass over the socket, per consumer, handed over when it ends.
    var pendingDeliveries: [(sink: ConsumerSink, deliveries: [Delivery])] = []
    var channels: [UInt16: ChannelState] = [:]
    private var freeChannelNumbers: [UInt16] = []
    /// Numbers of closed channels whose frames may still be queued inside librabbitmq: reusing them
    /// before the queue is empty would hand an old channel's deliveries to a new one.
    private var quarantinedChannelNumbers: [UInt16] = []
    private var nextChannelNumber: UInt16 = 1
    var maxChannelNumber: UInt16 = 2047
    var stopRequested = false
    var usesTLS: Bool { configuration.tls != nil }

    init(configuration: AMQPConfiguration) throws(AMQPError) {
        self.configuration = configuration
        let fd = CRabbitMQ_wakefd_create()
        guard fd >= 0 else { throw AMQPError.connectFailed("eventfd failed: errno \(errno)") }
        self.wakeFD = fd
        (self.events, self.eventSink) = AsyncStream.makeStream(of: ConnectionEvent.self, bufferingPolicy: .bufferingNewest(64))
    }

    deinit { close(wakeFD) }

    // MARK: - submitting work (any thread)

    /// Queues work for the owner thread. Returns false once the connection has ended; the work is
    /// then not run and the caller must fail it with ``terminalError``.
    @discardableResult
    func submit(_ work: @escaping Work) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closed else { return (false, false) }
            inbox.work.append(work)
            let wake = inbox.ownerIsSleeping
            inbox.ownerIsSleeping = false
            return (true, wake)
        }
        if wake { CRabbitMQ_wakefd_signal(wakeFD) }
        return accepted
    }

    /// Queues an ack, nack or reject; false once the connection has ended.
    func submitAck(_ request: AckRequest) -> Bool {
        let (accepted, wake) = inbox.withLock { inbox -> (Bool, Bool) in
            guard !inbox.closed else { return (false, false) }
            inbox.acks.append(request)
            let wake = inbox.ownerIsSleeping
            inbox.ownerIsSleeping = false
            return (true, wake)
        }
        if wake { CRabbitMQ_wakefd_signal(wakeFD) }
        return accepted
    }

    var terminalError: AMQPError { terminal.withLock { $0 } ?? .closedByClient }

    /// Runs `body` on the owner thread and returns its result to the awaiting task.
    func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionCore) throws(AMQPError) -> T) async throws(AMQPError) -> T {
        let result: Result<T, AMQPError> = await withCheckedContinuation { continuation in
            let accepted = submit { core in
                if let error = core.terminal.withLock({ $0 }) {
                    continuation.resume(returning: .failure(error))
                    return
                }
                do throws(AMQPError) {
                    continuation.resume(returning: .success(try body(core)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !accepted { continuation.resume(returning: .failure(terminalError)) }
        }
        return try result.get()
    }

    func waitForTermination() async -> AMQPError {
        await withCheckedContinuation { continuation in
            let done: AMQPError? = terminationWaiters.withLock { waiters in
                if let error = terminal.withLock({ $0 }) { return error }
                waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    func waitForThreadExit() async {
        await withCheckedContinuation { continuation in
            let done = threadExited.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - the owner thread

    /// Starts the owner thread; `connected` is told the outcome of connect and login.
    func start(connected: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        let thread = Thread { [self] in
            // Named for the kernel too, so `top -H`, perf and a debugger show which thread it is.
            CRabbitMQ_name_thread("amqp-connection")
            do throws(AMQPError) {
                try self.open()
            } catch {
                self.terminate(error)
                self.finishThread()
                connected(.failure(error))
                return
            }
            connected(.success(()))
            self.runLoop()
            self.finishThread()
        }
        thread.name = "amqp-connection"
        thread.start()
    }

    private func finishThread() {
        if let state {
            amqp_destroy_connection(state)
            self.state = nil
        }
        socketFD.store(-1, ordering: .sequentiallyConsistent)
        // Work that raced with the end is failed by its own `perform`, which sees `terminal`.
        let leftover = inbox.withLock { inbox -> [Work] in
            inbox.closed = true
            defer { inbox.work.removeAll() }
            return inbox.work
        }
        for work in leftover { work(self) }
        let waiters = threadExited.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private var pollTimeoutMilliseconds: Int32 {
        // Heartbeats are only sent from inside librabbitmq calls, so wake at least four times per
        // interval. OpenSSL may hold decrypted records that poll(2) cannot see: poll often with TLS.
        let heartbeat = negotiatedHeartbeat.load(ordering: .relaxed)
        var timeout: Int32 = heartbeat > 0 ? Int32(min(heartbeat * 250, 1000)) : 1000
        if usesTLS { timeout = min(timeout, 5) }
        return timeout
    }

    private func runLoop() {
        while true {
            guard pumpFrames() else { return }
            let (acks, work) = inbox.withLock { inbox -> ([AckRequest], [Work]) in
                defer {
                    inbox.acks.removeAll(keepingCapacity: true)
                    inbox.work.removeAll(keepingCapacity: true)
                }
                return (inbox.acks, inbox.work)
            }
            // Acks first: anything that closes a channel was submitted after its acks were accepted.
            if !acks.isEmpty { acknowledge(acks) }
            if !work.isEmpty {
                for item in work {
                    item(self)
                }
                if terminal.withLock({ $0 }) != nil { return }
                continue
            }
            if stopRequested { return }
            if let state, amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 { continue }
            let sleep = inbox.withLock { inbox -> Bool in
                guard inbox.work.isEmpty, inbox.acks.isEmpty else { return false }
                inbox.ownerIsSleeping = true
                return true
            }
            guard sleep else { continue }
            var fds = [
                pollfd(fd: socketFD.load(ordering: .relaxed), events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, pollTimeoutMilliseconds)
            inbox.withLock { $0.ownerIsSleeping = false }
            if fds[1].revents != 0 {
                CRabbitMQ_wakefd_drain(wakeFD)
            }
        }
    }

    // MARK: - ending

    /// Ends the connection for good: everything waiting on it fails with `error`.
    func terminate(_ error: AMQPError) {
        let first = terminal.withLock { terminal -> Bool in
            guard terminal == nil else { return false }
            terminal = error
            return true
        }
        guard first else { return }
        for channel in channels.values { channel.fail(error) }
        channels.removeAll()
        eventSink.finish()
        let waiters = terminationWaiters.withLock { waiters -> [CheckedContinuation<AMQPError, Never>] in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: error) }
    }

    // MARK: - channel numbers

    func allocateChannelNumber() -> UInt16? {
        if let reused = freeChannelNumbers.popLast() { return reused }
        guard nextChannelNumber <= maxChannelNumber else { return nil }
        defer { nextChannelNumber += 1 }
        return nextChannelNumber
    }

    func releaseChannelNumber(_ number: UInt16) {
        quarantinedChannelNumbers.append(number)
    }

    func releaseQuarantinedChannelNumbersIfIdle() {
        guard !quarantinedChannelNumbers.isEmpty, let state, amqp_frames_enqueued(state) == 0 else { return }
        freeChannelNumbers.append(contentsOf: quarantinedChannelNumbers)
        quarantinedChannelNumbers.removeAll()
    }
}
