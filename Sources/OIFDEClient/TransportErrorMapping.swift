import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// Sorts the HTTP stack's errors into the few kinds the retry rules care about, keeping apart
/// "never sent" (connect) from "sent, then lost" (in doubt). Descriptions are never copied out:
/// they could carry URLs or bodies.
enum TransportErrorMapping {
    static func kind(of error: any Error) -> AttemptResult.TransportError {
        if let http = error as? HTTPClientError {
            switch http {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .timeout
            // No connection was had: the request never left.
            case .connectTimeout, .getConnectionFromPoolTimeout: return .connect
            case .tlsHandshakeTimeout: return .tls
            case .remoteConnectionClosed, .uncleanShutdown: return .connectionClosed
            default: return .badResponse
            }
        }
        if error is NIOSSLError || error is BoringSSLError { return .tls }
        if error is NIOConnectionError { return .connect }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ETIMEDOUT: return .connect
            // A reset or a broken pipe on an open connection: the request may have been written.
            default: return .connectionClosed
            }
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return .connect
            default: return .connectionClosed
            }
        }
        return .connectionClosed
    }
}
