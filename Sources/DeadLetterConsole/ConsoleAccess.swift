import Foundation
import GatewayConfig
import Hummingbird
import Synchronization
import WorkModeDomain

/// Who may use the console (docs/contract.md section 13): with `admin.token`, a bearer header or a
/// login session's cookie; with no token, only on a loopback listener; otherwise nobody.
public final class ConsoleAccess: Sendable {
    /// Whether the console is served, and how it is protected.
    public enum Mode: Sendable, Equatable {
        /// `admin.token` is set: every console and API request needs it.
        case token
        /// No token, but the listener is on loopback: only this machine can reach it.
        case loopbackWithoutToken
        /// No token on a listener others can reach: the console is not served.
        case off
    }

    /// How this listener serves the console.
    public let mode: Mode
    private let token: [UInt8]?
    /// Login sessions by cookie value, with when each expires. Held in memory: a restart logs out.
    private let sessions = Mutex<[String: ContinuousClock.Instant]>([:])
    static let sessionLifetime: Duration = .seconds(12 * 3600)
    /// The session cookie's name.
    public static let cookieName = "wmg_console"

    /// The origins a page of this listener has: `http://HOST:PORT` for the configured address
    /// and, on loopback, for every loopback name.
    private let origins: Set<String>
    /// Login attempts in the current minute: more than ``loginsPerMinute`` are refused.
    private let logins = Mutex<(minute: Int64, count: Int)>((0, 0))
    static let loginsPerMinute = 10

    /// The access rules for `configuration`'s `admin.listen` and `admin.token`.
    public init(configuration: GatewayConfiguration) {
        let listen = configuration.adminListen
        let hosts = Self.isLoopback(listen.host) ? ["localhost", "127.0.0.1", "[::1]", listen.host] : [listen.host]
        origins = Set(
            hosts.flatMap { host in
                let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
                return ["http://\(name):\(listen.port)", "https://\(name):\(listen.port)"]
            })
        token = configuration.adminToken.map { Array($0.reveal().utf8) }
        if token != nil {
            mode = .token
        } else if Self.isLoopback(configuration.adminListen.host) {
            mode = .loopbackWithoutToken
        } else {
            mode = .off
        }
    }

    /// One line for the start log: whether the console is on and why.
    public var startLine: String {
        switch mode {
        case .token: return "dead-letter console on /console: admin.token required"
        case .loopbackWithoutToken: return "dead-letter console on /console: no admin.token, reachable from this machine only (loopback listener)"
        case .off: return "dead-letter console off: admin.listen is not a loopback address and admin.token is not set"
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// True when `request` may use the console: no token needed, the right bearer token, or a
    /// live login session.
    func authorizes(_ request: Request) -> Bool {
        switch mode {
        case .off: return false
        case .loopbackWithoutToken: return true
        case .token: break
        }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer "), matches(String(header.dropFirst(7))) { return true }
        guard let session = request.cookies[Self.cookieName]?.value else { return false }
        let now = ContinuousClock.now
        return sessions.withLock { live in
            live = live.filter { $0.value > now }
            return live[session] != nil
        }
    }

    /// Compares without an early exit, so the time taken says nothing about the token.
    func matches(_ candidate: String) -> Bool {
        guard let token else { return false }
        let given = Array(candidate.utf8)
        var difference = UInt8(given.count == token.count ? 0 : 1)
        for index in 0..<token.count { difference |= token[index] ^ (index < given.count ? given[index] : 0) }
        return difference == 0
    }

    /// A new login session for the right token; nil for a wrong one.
    func logIn(with candidate: String) -> String? {
        guard mode == .token, matches(candidate) else { return nil }
        var random = SystemRandomNumberGenerator()
        let session = (0..<4).map { _ in String(random.next() as UInt64, radix: 16) }.joined()
        sessions.withLock { $0[session] = ContinuousClock.now + Self.sessionLifetime }
        return session
    }

    func logOut(_ request: Request) {
        guard let session = request.cookies[Self.cookieName]?.value else { return }
        _ = sessions.withLock { $0.removeValue(forKey: session) }
    }

    /// A state-changing request must come from a page of this listener: its `Origin` is the
    /// configured listener's own (never compared with the request's `Host`, which a rebinding
    /// page controls). A missing `Origin` is refused too.
    func isSameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin] else { return false }
        return origins.contains(origin.lowercased())
    }

    /// Without a token, only requests addressed to a loopback name: a DNS-rebinding page reaches
    /// the listener with its own name in `Host`. With a token, any host (the token is the guard).
    func acceptsHost(_ request: Request) -> Bool {
        guard mode == .loopbackWithoutToken else { return true }
        guard let authority = request.head.authority else { return false }
        return Self.isLoopbackAuthority(authority)
    }

    /// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
    static func isLoopbackAuthority(_ authority: String) -> Bool {
        var host = authority.lowercased()
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = String(host[host.startIndex...close])
            return host == "[::1]"
        }
        if let colon = host.lastIndex(of: ":") {
            guard host[host.index(after: colon)...].allSatisfy(\.isNumber) else { return false }
            host = String(host[..<colon])
        }
        if host == "localhost" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { part in UInt8(part) != nil }
    }

    /// Counts a login attempt; false past ``loginsPerMinute`` in this minute.
    func loginAllowed(now: Date = Date()) -> Bool {
        let minute = Int64(now.timeIntervalSince1970 / 60)
        return logins.withLock { state in
            if state.minute != minute { state = (minute, 0) }
            state.count += 1
            return state.count <= Self.loginsPerMinute
        }
    }
}
