import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// Collects one OIFDE answer (status, the two headers the rules read, a body up to a limit) on the
/// HTTP event loop, so the command's task is woken once, with the whole answer, instead of once
/// for the head and again for each part of the body.
final class AnswerCollector: HTTPClientResponseDelegate {
    typealias Response = OIFDEClient.Answer

    /// Fails the request once the body passes the limit: the server answered, with more than an
    /// answer can hold, so the caller reports it as an oversized answer, not a transport problem.
    struct Oversized: Error {
        let answer: OIFDEClient.Answer
    }

    private let maxBytes: Int
    private let answer = Mutex(OIFDEClient.Answer(status: 0, retryAfter: nil, location: nil, body: []))

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        answer.withLock { answer in
            answer.status = Int(head.status.code)
            answer.retryAfter = ResponseDecoding.retryAfter(head.headers.first(name: "Retry-After"))
            answer.location = ResponseDecoding.location(head.headers.first(name: "Location"))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let oversized = answer.withLock { answer -> OIFDEClient.Answer? in
            guard answer.body.count + buffer.readableBytes <= maxBytes else {
                answer.oversized = true
                return answer
            }
            answer.body.append(contentsOf: buffer.readableBytesView)
            return nil
        }
        guard let oversized else { return task.eventLoop.makeSucceededVoidFuture() }
        return task.eventLoop.makeFailedFuture(Oversized(answer: oversized))
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        answer.withLock { $0 }
    }
}
