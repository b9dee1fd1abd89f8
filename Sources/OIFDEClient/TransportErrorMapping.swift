import AsyncHTTPClient
import NIOCore
import NIOSSL
import WorkModeDomain

/// Sorts the HTTP stack's errors into the few kinds the retry rules care about. Descriptions are
/// never copied out: they could carry URLs or bodies.
enum TransportErrorMapping {
    static func kind(of error: any Error) -> AttemptResult.TransportError {
        if let http = error as? HTTPClientError {
            switch http {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .getConnectionFromPoolTimeout: return .timeout
            case .connectTimeout: return .connect
            case .tlsHandshakeTimeout: return .tls
            case .remoteConnectionClosed, .uncleanShutdown: return .connectionClosed
            default: return .badResponse
            }
        }
        if error is NIOSSLError || error is BoringSSLError { return .tls }
        if error is NIOTooManyBytesError { return .badResponse }
        // Refused, unreachable, or the connect timer fired (NIOPosix's connection errors wrap IOError).
        if error is IOError || error is ChannelError { return .connect }
        return .connectionClosed
    }
}
