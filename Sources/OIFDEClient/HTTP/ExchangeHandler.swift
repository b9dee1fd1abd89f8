import NIOCore
import NIOHTTP1
import NIOSSL

/// The last handler of an OIFDE connection: writes one request at a time and collects its answer
/// on the event loop, so the waiting task is woken once, with the whole answer. The rules are
/// ``ExchangeMachine``'s; this handler feeds it the channel's events and does what it answers.
final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingExchange
    typealias OutboundOut = HTTPClientRequestPart

    /// Sent down the pipeline to end the exchange in progress and close the connection.
    struct Abort: Sendable {
        let error: HTTPExchangeError
    }

    private var machine: ExchangeMachine
    private var pending: ExchangeCompletion?
    private var deadline: Scheduled<Void>?

    init(maxBytes: Int) { machine = ExchangeMachine(maxBytes: maxBytes) }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        if let refusal = machine.start(keepAlive: exchange.head.isKeepAlive, channelActive: context.channel.isActive) {
            exchange.completion.complete(.failure(refusal))
            promise?.fail(refusal == .closedBeforeSending ? ChannelError.ioOnClosedChannel : ChannelError.inappropriateOperationForState)
            return
        }
        pending = exchange.completion
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(deadline: exchange.deadline) {
            handler.value.act(handler.value.machine.deadlinePassed(), context: boundContext.value)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenSuccess { handler.value.machine.written() }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action: ExchangeMachine.Action
        switch unwrapInboundIn(data) {
        case .head(let head):
            action = machine.head(
                status: Int(head.status.code), keepAlive: head.isKeepAlive,
                contentLength: head.headers.first(name: "Content-Length").flatMap(Int.init),
                retryAfter: ResponseDecoding.retryAfter(head.headers.first(name: "Retry-After")),
                location: ResponseDecoding.location(head.headers.first(name: "Location")))
        case .body(let part):
            action = machine.body(part.readableBytesView)
        case .end:
            action = machine.end()
        }
        act(action, context: context)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let abort = event as? Abort else { return context.triggerUserOutboundEvent(event, promise: promise) }
        act(machine.aborted(abort.error), context: context)
        promise?.succeed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        act(machine.inactive(), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        act(machine.failed(Self.failure(error)), context: context)
    }

    private func act(_ action: ExchangeMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .complete(let outcome):
            complete(outcome)
        case .completeAndClose(let outcome):
            complete(outcome)
            context.close(promise: nil)
        case .close:
            context.close(promise: nil)
        }
    }

    private func complete(_ outcome: ExchangeCompletion.Outcome) {
        deadline?.cancel()
        deadline = nil
        let completion = pending
        pending = nil
        completion?.complete(outcome)
    }

    static func failure(_ error: any Error) -> ExchangeMachine.Failure {
        if let tls = error as? NIOSSLError { return tls == .uncleanShutdown ? .uncleanTLSShutdown : .tls }
        if isReceivedAlert(error) { return .receivedAlert }
        if error is BoringSSLError { return .tls }
        if let parser = error as? HTTPParserError { return parser == .invalidEOFState ? .endOfFileMidAnswer : .malformed }
        return .other
    }

    /// A fatal TLS alert from the peer (BoringSSL's `SSLV3_ALERT_…`/`TLSV1_ALERT_…` reasons; NIOSSL
    /// exposes the code only through the description).
    static func isReceivedAlert(_ error: any Error) -> Bool {
        guard let ssl = error as? BoringSSLError else { return false }
        let text = "\(ssl)"
        return text.contains("TLSV1_ALERT_") || text.contains("SSLV3_ALERT_")
    }
}
