import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WorkModeDomain

/// The floor under the OIFDE client: the same requests as `wmg-bench oifde` (one task per
/// worker, each awaiting its answer) over plain NIOHTTP1 keep-alive connections, one per worker,
/// with no pool, no deadline and no TLS. What async-http-client costs above this is what a
/// hand-written client could save at most.
struct PlainHTTPBenchmark {
    let host: String
    let port: Int
    let concurrency: Int
    let seconds: Double

    struct Exchange: Sendable {
        let head: HTTPRequestHead
        let body: ByteBuffer
        let answer: EventLoopPromise<Int>
    }

    /// Sends one request at a time and answers its promise with the status once the response ends.
    final class ExchangeHandler: ChannelDuplexHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundIn = Exchange
        typealias OutboundOut = HTTPClientRequestPart

        private var pending: EventLoopPromise<Int>?
        private var status = 0

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let exchange = unwrapOutboundIn(data)
            pending = exchange.answer
            context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body: break
            case .end:
                let answer = pending
                pending = nil
                answer?.succeed(status)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            pending?.fail(error)
            pending = nil
            context.close(promise: nil)
        }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var channels: [any Channel] = []
        for _ in 0..<concurrency {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                    }
                }
                .connect(host: host, port: port).get()
            channels.append(channel)
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let started = ContinuousClock.now
        let cpuBefore = processCPUSeconds()
        let hostHeader = "\(host):\(port)"
        let completed = await withTaskGroup(of: Int.self) { group in
            for (worker, channel) in channels.enumerated() {
                group.addTask {
                    var done = 0
                    var mode = WorkMode.insertion
                    while ContinuousClock.now < deadline {
                        let command = WorkModeCommand(tenantId: "bench", callId: "w\(worker)", agentId: "a", workMode: mode)
                        let body = OIFDERequestBody.encode(command, authToken: "bench-token")
                        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/oifde/rest/api/flow/changeWorkMode")
                        head.headers = [
                            "Host": hostHeader, "Content-Type": "application/json; charset=UTF-8", "Content-Length": "\(body.count)",
                            "X-Command-Id": "\(worker)-\(done)",
                        ]
                        let answer = channel.eventLoop.makePromise(of: Int.self)
                        channel.writeAndFlush(Exchange(head: head, body: ByteBuffer(bytes: body), answer: answer), promise: nil)
                        guard (try? await answer.futureResult.get()) == 200 else { break }
                        done += 1
                        mode = mode == .insertion ? .supervision : .insertion
                    }
                    return done
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let cpuMicroseconds = (processCPUSeconds() - cpuBefore) * 1e6 / Double(max(1, completed))
        print("plain-nio concurrency=\(concurrency) requests/s=\(Int(Double(completed) / elapsed)) cpu-us/request=\(Int(cpuMicroseconds))")
        for channel in channels { try? await channel.close() }
    }
}
