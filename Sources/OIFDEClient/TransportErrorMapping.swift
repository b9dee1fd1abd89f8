import NIOHTTP1
import Tracing
import WorkModeDomain

/// Sorts the connection pool's errors into the kinds the retry rules care about, keeping apart
/// "never sent" from "sent, then lost" (in doubt). A cancelled exchange (a drain out of time)
/// counts as lost: the request may have left.
enum TransportErrorMapping {
    static func kind(of error: HTTPExchangeError) -> AttemptResult.TransportError {
        switch error {
        case .connect: return .connect
        case .tlsHandshake: return .tls
        case .proxyRefused: return .proxyRefused
        case .noConnection: return .noConnection
        case .closedBeforeSending: return .closedBeforeSending
        case .timeout: return .timeout
        case .connectionClosed: return .connectionClosed
        case .cancelled: return .cancelled
        case .cancelledBeforeSending: return .cancelledBeforeSending
        case .badResponse: return .badResponse
        }
    }
}

/// Writes a span's context into the request's headers (`traceparent`, `tracestate`).
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
