internal import CRabbitMQ
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension ConnectionCore {
    /// librabbitmq's default; RabbitMQ 4.1 refuses anything below 8192.
    static let frameMax: Int32 = 131_072
    /// Linux `TCP_USER_TIMEOUT`, which Glibc's module does not export.
    private static let tcpUserTimeout: Int32 = 18

    /// Connects, negotiates TLS and logs in. Runs on the owner thread.
    func open() throws(AMQPError) {
        guard let state = amqp_new_connection() else { throw .connectFailed("out of memory") }
        self.state = state
        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw .connectFailed("cannot create a TLS socket") }
            if let caFile = tls.caFile, amqp_ssl_socket_set_cacert(socket, caFile) != AMQP_STATUS_OK.rawValue {
                throw .connectFailed("cannot load the CA file \(caFile)")
            }
            if let certFile = tls.certFile, let keyFile = tls.keyFile,
                amqp_ssl_socket_set_key(socket, certFile, keyFile) != AMQP_STATUS_OK.rawValue
            {
                throw .connectFailed("cannot load the client certificate \(certFile) or its key")
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyPeer ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw .connectFailed("cannot create a socket") }
        }
        var connectTimeout = timeval(tv_sec: configuration.connectTimeoutSeconds, tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &connectTimeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .connectFailed("\(configuration.host):\(configuration.port): \(Self.statusText(status))")
        }
        let fd = amqp_get_sockfd(state)
        socketFD.store(fd, ordering: .sequentiallyConsistent)

        var handshakeTimeout = timeval(tv_sec: configuration.connectTimeoutSeconds, tv_usec: 0)
        amqp_set_handshake_timeout(state, &handshakeTimeout)
        var rpcTimeout = timeval(tv_sec: configuration.rpcTimeoutSeconds, tv_usec: 0)
        amqp_set_rpc_timeout(state, &rpcTimeout)

        var clientProperties: FieldTable = [
            "product": .string("workmode-gateway"),
            "platform": .string("Swift"),
            "capabilities": .table([
                "publisher_confirms": .bool(true),
                "consumer_cancel_notify": .bool(true),
                "connection.blocked": .bool(true),
                "basic.nack": .bool(true),
                "authentication_failure_close": .bool(true),
                "exchange_exchange_bindings": .bool(true),
            ]),
        ]
        if let name = configuration.connectionName { clientProperties["connection_name"] = .string(name) }
        var table = arena.table(clientProperties)
        defer { arena.reset() }
        let reply = CRabbitMQ_login_plain(
            state, configuration.virtualHost, 0, Self.frameMax, Int32(configuration.heartbeatSeconds), &table,
            configuration.user, configuration.password
        )
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            break
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw .loginRefused("\(close.reply_code) \(String(copyingText: close.reply_text))")
            }
            throw .loginRefused("the broker closed the connection during login")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION where reply.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue:
            throw .loginRefused("the broker closed the connection during login (wrong user, password or virtual host?)")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw .connectFailed("login failed: \(Self.statusText(reply.library_error))")
        default:
            throw .connectFailed("login failed: no answer")
        }
        negotiatedHeartbeat.store(Int(amqp_get_heartbeat(state)), ordering: .relaxed)
        let channelMax = amqp_get_channel_max(state)
        if channelMax > 0 { maxChannelNumber = UInt16(clamping: channelMax) }

        // A send() blocked on a dead peer is bounded by the kernel, not only by heartbeats
        // (librabbitmq 0.11 publish can otherwise block forever: rabbitmq-c #780).
        let heartbeat = Int(amqp_get_heartbeat(state))
        var userTimeout = UInt32(max(heartbeat * 2, 10) * 1000)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), Self.tcpUserTimeout, &userTimeout, socklen_t(MemoryLayout<UInt32>.size))
    }

    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }
}
