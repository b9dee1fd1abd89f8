import NIOCore
import NIOHTTP1
import NIOSSL

/// The last handler of an OIFDE connection: writes one request at a time and collects its answer
/// on the event loop, so the waiting task is woken once, with the whole answer.
final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingExchange
    typealias OutboundOut = HTTPClientRequestPart

    /// Sent down the pipeline to end the exchange in progress and close the connection.
    struct Abort: Sendable {
        let error: HTTPExchangeError
    }

    private let maxBytes: Int
    private var pending: ExchangeCompletion?
    private var answer = HTTPAnswer(status: 0)
    private var keepAlive = true
    private var deadline: Scheduled<Void>?
    /// The whole request is in the socket: an answer before that leaves the connection unusable.
    private var requestWritten = false
    /// A response head arrived for the exchange in progress.
    private var answering = false
    /// Requests this connection has carried, the one in progress included.
    private var exchanges = 0

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            // The pool leases a connection to one request at a time; a second one is a bug, never sent.
            exchange.completion.complete(.failure(.connect))
            promise?.fail(ChannelError.inappropriateOperationForState)
            return
        }
        guard context.channel.isActive else {
            // The server closed the idle connection before this request reached it: provably not sent.
            exchange.completion.complete(.failure(.closedBeforeSending))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        pending = exchange.completion
        answer = HTTPAnswer(status: 0)
        keepAlive = exchange.head.isKeepAlive
        requestWritten = false
        answering = false
        exchanges += 1
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(deadline: exchange.deadline) {
            handler.value.finish(.failure(.timeout))
            boundContext.value.close(promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenSuccess { handler.value.requestWritten = true }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pending != nil else {
            // Bytes nobody asked for: the connection cannot be trusted with the next request.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            answering = true
            answer.status = Int(head.status.code)
            answer.retryAfter = ResponseDecoding.retryAfter(head.headers.first(name: "Retry-After"))
            answer.location = ResponseDecoding.location(head.headers.first(name: "Location"))
            keepAlive = keepAlive && head.isKeepAlive
            if let announced = head.headers.first(name: "Content-Length").flatMap(Int.init), announced > maxBytes {
                endOversized(context: context)
            }
        case .body(let part):
            guard answer.body.count + part.readableBytes <= maxBytes else { return endOversized(context: context) }
            answer.body.append(contentsOf: part.readableBytesView)
        case .end:
            // An answer that came before the whole request was written (a server refusing early)
            // leaves the rest of the request in flight: the connection cannot carry another.
            answer.reusable = keepAlive && requestWritten
            finish(.success(answer))
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// The server answered with more than an answer can hold: an answer (oversized), not a
    /// transport problem; the rest is not read, so the connection goes.
    private func endOversized(context: ChannelHandlerContext) {
        answer.oversized = true
        answer.reusable = false
        finish(.success(answer))
        context.close(promise: nil)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let abort = event as? Abort else { return context.triggerUserOutboundEvent(event, promise: promise) }
        finish(.failure(abort.error))
        context.close(promise: nil)
        promise?.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed under a request that was (at least partly) written: it may have been applied.
        finish(.failure(.connectionClosed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS peer that closes without close_notify: for an answer read to the connection's end
        // that is its end, which the HTTP decoder delivers on the close that follows.
        if let tls = error as? NIOSSLError, tls == .uncleanShutdown, answering { return }
        if !answering, exchanges == 1, Self.isReceivedAlert(error) {
            // TLS 1.3 finishes the client's side of the handshake before the server checks it (a
            // client certificate it requires, say): a fatal alert in answer to the first request
            // means the server refused the session and never read the request.
            finish(.failure(.tlsHandshake))
            context.close(promise: nil)
            return
        }
        finish(.failure(Self.kind(of: error)))
        context.close(promise: nil)
    }

    private func finish(_ outcome: ExchangeCompletion.Outcome) {
        deadline?.cancel()
        deadline = nil
        let completion = pending
        pending = nil
        completion?.complete(outcome)
    }

    /// A fatal TLS alert from the peer (BoringSSL's `SSLV3_ALERT_…`/`TLSV1_ALERT_…` reasons; NIOSSL
    /// exposes the code only through the description).
    static func isReceivedAlert(_ error: any Error) -> Bool {
        guard let ssl = error as? BoringSSLError else { return false }
        let text = "\(ssl)"
        return text.contains("TLSV1_ALERT_") || text.contains("SSLV3_ALERT_")
    }

    static func kind(of error: any Error) -> HTTPExchangeError {
        // The handshake is over before a connection is handed out: a TLS error here is a lost
        // connection (cut mid-answer), not a failed handshake.
        if error is NIOSSLError || error is BoringSSLError { return .connectionClosed }
        // The server closed before its answer was complete: lost, not malformed.
        if let parser = error as? HTTPParserError { return parser == .invalidEOFState ? .connectionClosed : .badResponse }
        return .connectionClosed
    }
}
