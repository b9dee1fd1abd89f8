import NIOCore
import NIOHTTP1

/// What came back for one request: the status, the two headers the rules read, and the body up to
/// `oifde.maxResponseBytes` (`oversized` past it; the rest is not read).
struct HTTPAnswer: Sendable, Equatable {
    var status: Int
    var retryAfter: Duration?
    var location: String?
    var body: [UInt8] = []
    var oversized = false
    /// The connection may carry the next request (a complete answer, keep-alive on both sides).
    var reusable = false
}

/// Why an exchange ended without an answer, kept apart by whether the request may have reached
/// OIFDE (docs/contract.md section 14; `AttemptResult.TransportError.provablyNotSent`).
enum HTTPExchangeError: Error, Sendable, Hashable {
    /// No connection could be made.
    case connect
    /// The TLS handshake failed (a connection is handed out only after it).
    case tlsHandshake
    /// The proxy refused the CONNECT tunnel with this status (0: it did not answer HTTP).
    case proxyRefused(status: Int)
    /// The deadline passed while waiting for a free connection, connecting or shaking hands.
    case noConnection
    /// The leased connection was closed before the request went into it.
    case closedBeforeSending
    /// Written (at least in part), then no complete answer by the deadline.
    case timeout
    /// Written (at least in part), then the connection ended before the answer did.
    case connectionClosed
    /// An answer that is not HTTP.
    case badResponse
    /// The waiting task was cancelled (a drain out of time); the request may have left.
    case cancelled
    /// The task was cancelled while waiting for a connection or its TLS handshake: never sent.
    case cancelledBeforeSending
}

/// One request on its way down a connection's pipeline.
struct PendingExchange: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer
    /// The answer must be complete by then; the handler ends the exchange and the connection after.
    let deadline: NIODeadline
    let completion: ExchangeCompletion
}
