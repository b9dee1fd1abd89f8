import Foundation
import GatewayConfig
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// `workmode-gateway health`: asks a running gateway's admin listener whether it is ready. A plain
/// blocking HTTP/1.1 request over a socket with a deadline: the container's HEALTHCHECK runs it every
/// few seconds, and a runtime image has no curl.
public struct HealthProbe: Sendable {
    /// What the listener answered, or why it could not be asked.
    public enum Answer: Sendable, Equatable {
        case ready(body: String)
        case notReady(status: Int, body: String)
        case unreachable(String)

        /// Only a 200 from `/health/ready` is ready.
        public var isReady: Bool { if case .ready = self { true } else { false } }
    }

    /// Where the listener is asked (a wildcard listen address becomes loopback).
    public let host: String
    /// The listener's port.
    public let port: Int
    /// The whole exchange's limit: connect, request and answer.
    public let timeout: Duration

    /// The probe for `admin.listen`: a wildcard address is asked on loopback, where it also listens.
    public init(listen: ListenAddress, timeout: Duration = .seconds(3)) {
        switch listen.host {
        case "0.0.0.0", "": host = "127.0.0.1"
        case "::", "[::]": host = "::1"
        default: host = listen.host
        }
        port = listen.port
        self.timeout = timeout
    }

    /// `GET /health/ready`. Blocking: call it from a command line, not from the cooperative pool of a daemon.
    public func ask() -> Answer {
        let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            return .unreachable("cannot resolve \(host)")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            // Linux applies the send timeout to connect and the receive timeout to every read.
            var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            guard connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            return exchange(fd: fd, target: target)
        }
        return .unreachable("cannot reach the admin listener at \(target): \(lastError)")
    }

    private func exchange(fd: Int32, target: String) -> Answer {
        let request = Array("GET /health/ready HTTP/1.1\r\nHost: \(target)\r\nConnection: close\r\nUser-Agent: workmode-gateway-health\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return .unreachable("cannot send to the admin listener at \(target): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + timeout
        while response.count < 65_536, ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { return .unreachable("no answer from the admin listener at \(target) within \(DurationText.format(timeout))") }
            response += chunk[0..<n]
        }
        return Self.parse(response, from: target)
    }

    /// The status line's code and the body after the blank line (the listener answers with a length
    /// and closes, so everything after the headers is the body).
    static func parse(_ bytes: [UInt8], from target: String) -> Answer {
        let text = String(decoding: bytes, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            return .unreachable("the admin listener at \(target) did not answer HTTP: \(String(statusLine.prefix(80)))")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return status == 200 ? .ready(body: body) : .notReady(status: status, body: body)
    }
}
