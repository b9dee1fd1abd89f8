import NIOCore

/// An HTTP proxy between the gateway and OIFDE (`oifde.proxy.url`, else `HTTPS_PROXY`/`HTTP_PROXY`).
public struct ProxySettings: Sendable, Hashable {
    /// The proxy's host.
    public var host: String
    /// The proxy's port.
    public var port: Int
    /// `Proxy-Authorization` (`Basic …`), when the proxy needs credentials; never logged.
    public var authorization: String?

    /// A proxy at `host:port`, with basic credentials when `user` is set.
    public init(host: String, port: Int, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        if let user {
            let credentials = Array("\(user):\(password ?? "")".utf8)
            authorization = "Basic " + Base64.encode(credentials)
        }
    }
}

/// Opens a CONNECT tunnel through the proxy right after the TCP connection, before TLS: writes
/// `CONNECT host:port`, reads the proxy's answer head, and removes itself on a 2xx. Anything else
/// fails `established` with the proxy's status, and nothing of the request was sent.
final class ProxyTunnelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let established: EventLoopPromise<Void>
    private let request: String
    private var head: [UInt8] = []

    init(target: String, authorization: String?, established: EventLoopPromise<Void>) {
        var request = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization { request += "Proxy-Authorization: \(authorization)\r\n" }
        self.request = request + "\r\n"
        self.established = established
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        head += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let end = Self.endOfHead(head) else {
            if head.count > 16_384 { fail(context, HTTPExchangeError.proxyRefused(status: 0)) }
            return
        }
        let status = Self.status(Array(head[..<end]))
        guard (200...299).contains(status) else { return fail(context, HTTPExchangeError.proxyRefused(status: status)) }
        established.succeed()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The pipeline's teardown (also after a connect that failed, which never makes the channel
    /// active): the promise must not outlive it unfulfilled.
    func handlerRemoved(context: ChannelHandlerContext) {
        established.fail(HTTPExchangeError.connect)
    }

    func channelInactive(context: ChannelHandlerContext) {
        established.fail(HTTPExchangeError.connect)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, HTTPExchangeError.connect)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: HTTPExchangeError) {
        established.fail(error)
        context.close(promise: nil)
    }

    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// `HTTP/1.1 407 Proxy Authentication Required` → 407; 0 when it is not an HTTP status line.
    static func status(_ head: [UInt8]) -> Int {
        let line = String(decoding: head.prefix { $0 != 13 }, as: UTF8.self).split(separator: " ")
        guard line.count >= 2, line[0].hasPrefix("HTTP/1."), let status = Int(line[1]) else { return 0 }
        return status
    }
}

/// RFC 4648 base64, for `Proxy-Authorization` only (Foundation's would pull it in for one line).
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
