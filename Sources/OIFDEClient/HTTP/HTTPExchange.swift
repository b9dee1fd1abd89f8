import NIOCore
import NIOHTTP1

/// What came back for one request: the status, the two headers the rules read, and the body up to
/// `oifde.maxResponseBytes` (`oversized` past it; the rest is not read).
struct HTTPAnswer: Sendable {
    var status: Int
    var retryAfter: Duration?
    var location: String?
    var body: [UInt8] = []
    var oversized = false
    /// The connection may carry the next request (a complete answer, keep-alive on both sides).
    var reusable = false
}

/// Why an exchange ended without an answer. Kept apart by whether the request may have reached
/// OIFDE: `connect` means it did not; the others may have been applied.
enum HTTPExchangeError: Error, Sendable {
    case connect
    case tls
    case timeout
    case connectionClosed
    case badResponse
    case cancelled
}

/// One request on its way down a connection's pipeline.
struct PendingExchange: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer
    /// The answer must be complete by then; the handler ends the exchange and the connection after.
    let deadline: NIODeadline
    let completion: ExchangeCompletion
}
