import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// HTTP/1.1 keep-alive connections to one server (OIFDE), at most `maxConnections` of them, one
/// request at a time on each; requests beyond that wait for a connection, in arrival order.
///
/// Hand-written on NIOHTTP1 because async-http-client cost four times the CPU per request here
/// (`wmg-bench oifde` against `wmg-bench plain-http`): its pool, request and task state machines
/// are general; this serves one host, POSTs only, never redirects and never retries.
final class HTTPConnectionPool: Sendable {
    struct Target: Sendable {
        let host: String
        let port: Int
        /// Nil for plain HTTP.
        let tls: NIOSSLContext?
        /// The TLS server name: none for an address, and NIOSSL then checks the certificate against the IP.
        let serverHostname: String?
        /// An HTTP proxy on the way: a CONNECT tunnel for HTTPS, absolute-form requests for HTTP.
        let proxy: ProxySettings?

        init(host: String, port: Int, tls: NIOSSLContext?, proxy: ProxySettings? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
            self.proxy = proxy
            let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            self.serverHostname = (try? SocketAddress(ipAddress: bare, port: 0)) != nil ? nil : host
        }
    }

    /// What a request waiting for a connection is given.
    private enum Lease {
        case connection(any Channel)
        /// Open a new connection (one was counted for it).
        case open
    }

    private struct Idle {
        let channel: any Channel
        let since: NIODeadline
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Lease, any Error>
        let timer = TimerBox()
    }

    private final class TimerBox: Sendable {
        private let scheduled = Mutex<Scheduled<Void>?>(nil)
        func withLock<Value>(_ body: (inout Scheduled<Void>?) -> Value) -> Value { scheduled.withLock { body(&$0) } }
    }

    private struct State {
        var idle: [Idle] = []
        /// Connections open or opening.
        var connections = 0
        var waiters: [Waiter] = []
        /// Connections carrying a request: a shutdown ends their exchanges.
        var busy: [ObjectIdentifier: any Channel] = [:]
        var shutDown = false
    }

    private let target: Target
    private let maxConnections: Int
    private let idleTimeout: TimeAmount
    private let maxResponseBytes: Int
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    private let nextWaiter = Atomic<UInt64>(0)
    /// Closes connections idle for `idleTimeout`: one timer for the pool, not one per request.
    private let sweeper = Mutex<RepeatedTask?>(nil)

    init(target: Target, maxConnections: Int, idleTimeout: TimeAmount, maxResponseBytes: Int, group: any EventLoopGroup) {
        self.target = target
        self.maxConnections = max(1, maxConnections)
        self.idleTimeout = idleTimeout
        self.maxResponseBytes = maxResponseBytes
        self.group = group
        guard idleTimeout > .zero else { return }
        // A connection closes between one and one and a half `idleTimeout`s after its last answer.
        let every = TimeAmount.nanoseconds(max(idleTimeout.nanoseconds / 2, 50_000_000))
        let task = group.any().scheduleRepeatedTask(initialDelay: every, delay: every) { [weak self] task in
            guard let self else { return task.cancel() }
            self.closeIdle(olderThan: .now() - idleTimeout)
        }
        sweeper.withLock { $0 = task }
    }

    /// Closes the idle connections unused since `cutoff`; their close counts them out.
    private func closeIdle(olderThan cutoff: NIODeadline) {
        let expired = state.withLock { state -> [any Channel] in
            guard state.idle.contains(where: { $0.since < cutoff }) else { return [] }
            let old = state.idle.filter { $0.since < cutoff }.map(\.channel)
            state.idle.removeAll { $0.since < cutoff }
            return old
        }
        for channel in expired { channel.close(promise: nil) }
    }

    /// Connections open or opening, those idle among them, and requests waiting for one.
    var statistics: ConnectionStatistics {
        state.withLock { ConnectionStatistics(open: $0.connections, idle: $0.idle.count, waiting: $0.waiters.count) }
    }

    /// Sends one request and collects its answer, all before `deadline` (waiting for a
    /// connection, connecting, the TLS handshake, the request and the whole answer).
    func execute(_ head: HTTPRequestHead, body: [UInt8], deadline: NIODeadline) async -> Result<HTTPAnswer, HTTPExchangeError> {
        var head = head
        if let proxy = target.proxy, target.tls == nil {
            // Plain HTTP through a proxy: the absolute form names the server (RFC 9112 3.2.2).
            head.uri = "http://\(target.host):\(target.port)" + head.uri
            if let authorization = proxy.authorization { head.headers.replaceOrAdd(name: "Proxy-Authorization", value: authorization) }
        }
        let channel: any Channel
        do {
            channel = try await lease(deadline: deadline)
        } catch let error as HTTPExchangeError {
            return .failure(error)
        } catch {
            return .failure(.connect)
        }
        let stillOpen = state.withLock { state -> Bool in
            guard !state.shutDown else { return false }
            state.busy[ObjectIdentifier(channel)] = channel
            return true
        }
        guard stillOpen else {
            release(channel, reusable: false)
            return .failure(.cancelledBeforeSending)
        }
        defer { _ = state.withLock { $0.busy.removeValue(forKey: ObjectIdentifier(channel)) } }
        let completion = ExchangeCompletion()
        let outcome = await withTaskCancellationHandler {
            await completion.wait {
                let written = channel.eventLoop.makePromise(of: Void.self)
                // A write refused by a closed channel sent nothing; any other failed write may have
                // sent part of the request (in doubt, the careful reading).
                written.futureResult.whenFailure { error in
                    let closed = (error as? ChannelError).map { $0 == .ioOnClosedChannel || $0 == .alreadyClosed } ?? false
                    completion.complete(.failure(closed ? .closedBeforeSending : .connectionClosed))
                }
                // The handler arms the deadline on the loop itself: one hand-off per request.
                let exchange = PendingExchange(head: head, body: ByteBuffer(bytes: body), deadline: deadline, completion: completion)
                channel.writeAndFlush(exchange, promise: written)
            }
        } onCancel: {
            completion.complete(.failure(.cancelled))
            channel.triggerUserOutboundEvent(ExchangeHandler.Abort(error: .cancelled), promise: nil)
        }
        switch outcome {
        case .success(let answer):
            release(channel, reusable: answer.reusable)
        case .failure:
            release(channel, reusable: false)
        }
        return outcome
    }

    /// Closes every idle connection, fails the requests waiting for one (never sent) and ends the
    /// exchanges in progress (in doubt: their requests may have been read); later requests fail.
    func shutdown() {
        sweeper.withLock { $0?.cancel() }
        let (idle, waiters, busy) = state.withLock { state -> ([Idle], [Waiter], [any Channel]) in
            state.shutDown = true
            defer {
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            return (state.idle, state.waiters, Array(state.busy.values))
        }
        for connection in idle { connection.channel.close(promise: nil) }
        for waiter in waiters {
            waiter.timer.withLock { $0?.cancel() }
            waiter.continuation.resume(throwing: HTTPExchangeError.cancelledBeforeSending)
        }
        for channel in busy { channel.triggerUserOutboundEvent(ExchangeHandler.Abort(error: .cancelled), promise: nil) }
    }

    // MARK: - leasing

    private func lease(deadline: NIODeadline) async throws -> any Channel {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        let lease = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let now = NIODeadline.now()
                let (immediate, stale) = state.withLock { state -> (Result<Lease, HTTPExchangeError>?, [any Channel]) in
                    guard !state.shutDown else { return (.failure(.connect), []) }
                    var stale: [any Channel] = []
                    // The most recently used first: the warmest, and the least likely to be timed out by the server.
                    while let idle = state.idle.popLast() {
                        if idle.channel.isActive, now - idle.since < idleTimeout { return (.success(.connection(idle.channel)), stale) }
                        stale.append(idle.channel)
                    }
                    if state.connections < maxConnections {
                        state.connections += 1
                        return (.success(.open), stale)
                    }
                    // Cancelled already: the cancellation handler ran before this waiter existed
                    // and found nothing to give up (a task cancelled before it asked, as a
                    // drain out of time does). Checked under the lock: a later cancellation's
                    // handler takes the lock after this and finds the waiter.
                    if Task.isCancelled { return (.failure(.cancelledBeforeSending), stale) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return (nil, stale)
                }
                // Their close is counted when it completes (`countOut(_:)`).
                for channel in stale { channel.close(promise: nil) }
                if let immediate {
                    continuation.resume(with: immediate.mapError { $0 as any Error })
                } else {
                    // Only a request that waits gets a timer; served first, the timer finds no
                    // waiter and does nothing.
                    let timer = group.any().scheduleTask(deadline: deadline) { self.giveUp(waiter: id, .noConnection) }
                    self.attach(timer, toWaiter: id)
                }
            }
        } onCancel: {
            // Still waiting for a connection: nothing was sent.
            giveUp(waiter: id, .cancelledBeforeSending)
        }
        switch lease {
        case .connection(let channel): return channel
        case .open: return try await connect(deadline: deadline)
        }
    }

    private func giveUp(waiter id: UInt64, _ error: HTTPExchangeError) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.timer.withLock { $0?.cancel() }
        waiter?.continuation.resume(throwing: error)
    }

    /// A waiting request's deadline timer, cancelled when the waiter is served so that a busy pool
    /// does not keep one scheduled task per request alive until its deadline.
    private func attach(_ timer: Scheduled<Void>, toWaiter id: UInt64) {
        let waiter = state.withLock { state in state.waiters.first { $0.id == id } }
        guard let waiter else { return timer.cancel() }
        waiter.timer.withLock { $0 = timer }
        // Served between the lookup and now: its timer is no longer wanted.
        if state.withLock({ state in !state.waiters.contains { $0.id == id } }) { timer.cancel() }
    }

    private func release(_ channel: any Channel, reusable: Bool) {
        guard reusable, channel.isActive else {
            // `countOut(_:)` counts it out once the close completes.
            channel.close(promise: nil)
            return
        }
        enum Next {
            case handTo(Waiter)
            case keepIdle
            case close
        }
        let next = state.withLock { state -> Next in
            guard !state.shutDown else { return .close }
            if !state.waiters.isEmpty { return .handTo(state.waiters.removeFirst()) }
            guard idleTimeout > .zero else { return .close }
            state.idle.append(Idle(channel: channel, since: .now()))
            return .keepIdle
        }
        switch next {
        case .handTo(let waiter):
            waiter.timer.withLock { $0?.cancel() }
            waiter.continuation.resume(returning: .connection(channel))
        case .keepIdle: break
        case .close: channel.close(promise: nil)
        }
    }

    /// A connection ended (closed by either side, or failed) or could not be made (`channel`
    /// nil): it no longer counts, and the first waiting request may open one in its place.
    private func countOut(_ channel: (any Channel)?) {
        let waiter = state.withLock { state -> Waiter? in
            if let channel { state.idle.removeAll { $0.channel === channel } }
            state.connections -= 1
            guard !state.waiters.isEmpty, state.connections < maxConnections else { return nil }
            state.connections += 1
            return state.waiters.removeFirst()
        }
        waiter?.timer.withLock { $0?.cancel() }
        waiter?.continuation.resume(returning: .open)
    }

    // MARK: - connecting

    private func connect(deadline: NIODeadline) async throws -> any Channel {
        let target = self.target
        let maxResponseBytes = self.maxResponseBytes
        let remaining = deadline - .now()
        guard remaining > .zero else {
            countOut(nil)
            throw HTTPExchangeError.noConnection
        }
        // Through a proxy over HTTPS, the TLS and HTTP handlers come after the tunnel is open.
        let tunnel: EventLoopPromise<Void>? = target.proxy != nil && target.tls != nil ? group.any().makePromise() : nil
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(remaining)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tunnel, let proxy = target.proxy {
                        try channel.pipeline.syncOperations.addHandler(
                            ProxyTunnelHandler(target: "\(target.host):\(target.port)", authorization: proxy.authorization, established: tunnel))
                        return
                    }
                    try Self.addExchangeHandlers(to: channel, target: target, maxResponseBytes: maxResponseBytes)
                }
            }
        // A promise must be completed before it goes (NIO traps on a leaked one in debug builds):
        // a connect that fails before the tunnel handler exists leaves it to this.
        defer { tunnel?.fail(HTTPExchangeError.connect) }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: target.proxy?.host ?? target.host, port: target.proxy?.port ?? target.port).get()
            if let tunnel {
                let timer = channel.eventLoop.scheduleTask(deadline: deadline) { tunnel.fail(HTTPExchangeError.noConnection) }
                defer { timer.cancel() }
                do {
                    try await tunnel.futureResult.get()
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
                do {
                    try await channel.eventLoop.submit {
                        try Self.addExchangeHandlers(to: channel, target: target, maxResponseBytes: maxResponseBytes)
                    }.get()
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
            }
        } catch let error as HTTPExchangeError {
            countOut(nil)
            throw error
        } catch {
            countOut(nil)
            if let timeout = error as? ChannelError, case .connectTimeout = timeout { throw HTTPExchangeError.noConnection }
            throw error is NIOSSLError || error is BoringSSLError ? HTTPExchangeError.tlsHandshake : HTTPExchangeError.connect
        }
        // From here on its close counts it out, whatever ends it.
        channel.closeFuture.whenComplete { _ in self.countOut(channel) }
        if target.tls != nil {
            do {
                try await handshake(on: channel, deadline: deadline)
            } catch {
                channel.close(promise: nil)
                switch error as? HTTPExchangeError {
                case .timeout: throw HTTPExchangeError.noConnection
                case .cancelledBeforeSending: throw HTTPExchangeError.cancelledBeforeSending
                default: throw HTTPExchangeError.tlsHandshake
                }
            }
        }
        return channel
    }

    /// TLS (with a handshake waiter), HTTP/1.1 and the exchange handler, on the channel's loop.
    private static func addExchangeHandlers(to channel: any Channel, target: Target, maxResponseBytes: Int) throws {
        if let tls = target.tls {
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: target.serverHostname))
            try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(done: channel.eventLoop.makePromise()))
        }
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(ExchangeHandler(maxBytes: maxResponseBytes))
    }

    private func handshake(on channel: any Channel, deadline: NIODeadline) async throws {
        let waiter = try await channel.pipeline.handler(type: HandshakeWaiter.self).get()
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) { waiter.timeOut() }
        defer { timer.cancel() }
        let done = waiter.done
        try await withTaskCancellationHandler {
            try await done.futureResult.get()
        } onCancel: {
            done.fail(HTTPExchangeError.cancelledBeforeSending)
        }
    }

}
