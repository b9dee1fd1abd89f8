import NIOCore
import NIOSSL
import NIOTLS

/// Tells when the TLS handshake of a new connection is done, so a connection is only handed to a
/// request once it can carry it: a handshake that fails is then a connect-time `tls` failure
/// (the request never left), never a request lost on a connection that closed under it.
final class HandshakeWaiter: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // It stays in the pipeline: the connecting task looks it up after the connect, which a
        // fast handshake can beat (removing it then failed that lookup under load).
        if case .handshakeCompleted = event as? TLSUserEvent { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(HTTPExchangeError.tlsHandshake)
        context.fireChannelInactive()
    }

    /// A connect that fails never makes the channel active, so `channelInactive` does not come;
    /// the pipeline's teardown does, and the promise must not outlive it unfulfilled.
    func handlerRemoved(context: ChannelHandlerContext) {
        done.fail(HTTPExchangeError.tlsHandshake)
    }

    /// A handshake that outlives the exchange's deadline.
    func timeOut() { done.fail(HTTPExchangeError.timeout) }
}
