import Foundation
import GatewayConfig
import Hummingbird
import Logging
import Metrics
import Operations

/// The dead-letter console on the admin listener (docs/contract.md section 13): a page at `/console`
/// and its JSON API under `/api/dead-letters`, both over the same `DeadLetterTools` the
/// `dead-letters` command uses, so page and CLI cannot disagree.
public struct DeadLetterConsole: Sendable {
    /// Who may use it.
    public let access: ConsoleAccess
    let context: OperatorContext
    let logger: Logger

    /// The console for a daemon running with `configuration`.
    public init(configuration: GatewayConfiguration, logger: Logger) {
        access = ConsoleAccess(configuration: configuration)
        context = OperatorContext(configuration: configuration)
        self.logger = logger
    }

    /// Most dead letters one listing returns in full (the counts always cover the whole queue).
    static let maximumLimit = 5000
    /// The redrive cap when a request names none: the CLI's `--max-redrives` default.
    static let defaultMaxRedrives = 3

    static func count(_ action: String) {
        Counter(label: "wmg_console_actions_total", dimensions: [("action", action)]).increment()
    }

    /// Adds the console's routes to the admin listener's router.
    public func register(on router: Router<BasicRequestContext>) {
        router.get("console") { request, _ -> Response in
            guard access.mode != .off else { return ConsoleResponse.off(access) }
            guard access.acceptsHost(request) else { return ConsoleResponse.foreignHost() }
            guard access.authorizes(request) else { return ConsoleResponse.redirect(to: "/console/login") }
            return ConsoleResponse.html(ConsolePage.html)
        }
        router.get("console/app.js") { _, _ -> Response in ConsoleResponse.asset(ConsolePage.script, type: "text/javascript; charset=utf-8") }
        router.get("console/app.css") { _, _ -> Response in ConsoleResponse.asset(ConsolePage.style, type: "text/css; charset=utf-8") }
        router.get("console/login") { _, _ -> Response in
            guard access.mode == .token else { return access.mode == .off ? ConsoleResponse.off(access) : ConsoleResponse.redirect(to: "/console") }
            return ConsoleResponse.html(LoginPage.html(problem: nil))
        }
        router.post("console/login") { request, _ -> Response in
            guard access.mode == .token else { return ConsoleResponse.off(access) }
            guard access.isSameOrigin(request) else { return ConsoleResponse.crossOrigin() }
            guard access.loginAllowed() else {
                Self.count("login_throttled")
                return ConsoleResponse.html(LoginPage.html(problem: "Too many attempts: wait a minute."), status: .tooManyRequests)
            }
            let form = FormBody.parse(try await ConsoleResponse.bodyText(request))
            guard let session = access.logIn(with: form["token"] ?? "") else {
                Self.count("login_refused")
                logger.warning("console: a login with a wrong token was refused")
                return ConsoleResponse.html(LoginPage.html(problem: "That is not the admin token."), status: .unauthorized)
            }
            Self.count("login")
            logger.info("console: logged in")
            var response = ConsoleResponse.redirect(to: "/console")
            response.setCookie(
                Cookie(
                    name: ConsoleAccess.cookieName, value: session, maxAge: Int(ConsoleAccess.sessionLifetime.components.seconds), path: "/",
                    httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("console/logout") { request, _ -> Response in
            guard access.acceptsHost(request), access.isSameOrigin(request) else { return ConsoleResponse.crossOrigin() }
            access.logOut(request)
            var response = ConsoleResponse.redirect(to: access.mode == .token ? "/console/login" : "/console")
            response.setCookie(Cookie(name: ConsoleAccess.cookieName, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        registerAPI(on: router)
    }

    private func guardAPI(_ request: Request, changing: Bool) -> Response? {
        if access.mode == .off { return ConsoleResponse.off(access) }
        if !access.acceptsHost(request) { return ConsoleResponse.foreignHost() }
        if !access.authorizes(request) {
            return ConsoleResponse.json(
                ["error": "unauthorized: send the admin token as a bearer token, or log in at /console/login"], status: .unauthorized)
        }
        if changing, !access.isSameOrigin(request) { return ConsoleResponse.crossOrigin() }
        return nil
    }

    /// A replay or purge: the access rules (token, same origin), then the `{"ids": …}` body (400
    /// when it is wrong), then `action` on the tools limited to that selection (503 when the broker
    /// fails it).
    private func acting(
        on request: Request, _ action: @Sendable (ConsoleSelection, DeadLetterTools) async throws -> Response
    ) async -> Response {
        if let refusal = guardAPI(request, changing: true) { return refusal }
        let selection: ConsoleSelection
        do {
            selection = try ConsoleSelection.parse(try await ConsoleResponse.bodyText(request))
        } catch {
            return ConsoleResponse.json(["error": "\(error)"], status: .badRequest)
        }
        do {
            return try await withTools(DeadLetterFilter(keys: Set(selection.ids))) { try await action(selection, $0) }
        } catch {
            return ConsoleResponse.json(["error": "\(error)"], status: .serviceUnavailable)
        }
    }

    /// The tools over `filter`. Reads need no turns: they change nothing; replays and purges
    /// take the settle lock inside the tools.
    private func withTools<Value: Sendable>(
        _ filter: DeadLetterFilter, _ body: @Sendable (DeadLetterTools) async throws -> Value
    ) async throws -> Value {
        try await body(DeadLetterTools(context: context, filter: filter))
    }

    private func registerAPI(on router: Router<BasicRequestContext>) {
        router.get("api/dead-letters") { request, _ -> Response in
            if let refusal = guardAPI(request, changing: false) { return refusal }
            let query = request.uri.queryParameters
            let filter: DeadLetterFilter
            let limit: Int
            do {
                filter = try ConsoleFilter.parse(query)
                limit = try ConsoleFilter.limit(query, maximum: Self.maximumLimit)
            } catch {
                return ConsoleResponse.json(["error": "\(error)"], status: .badRequest)
            }
            do {
                let browse = try await withTools(filter) { try await $0.browse(limit: limit) }
                let topology = context.configuration.topology
                return ConsoleResponse.json(ConsoleJSON.listing(browse, queue: topology.deadLetterQueue, retention: topology.deadLetterRetention))
            } catch {
                return ConsoleResponse.json(["error": "\(error)"], status: .serviceUnavailable)
            }
        }
        router.get("api/dead-letters/:key") { request, routeContext -> Response in
            if let refusal = guardAPI(request, changing: false) { return refusal }
            let key = routeContext.parameters.get("key") ?? ""
            let filter = DeadLetterFilter(keys: [key])
            do {
                let browse = try await withTools(filter) { try await $0.browse(limit: 1) }
                guard let record = browse.records.first else {
                    return ConsoleResponse.json(
                        ["error": "no dead letter \(key) in \(context.configuration.topology.deadLetterQueue)"], status: .notFound)
                }
                return ConsoleResponse.json(ConsoleJSON.detail(record))
            } catch {
                return ConsoleResponse.json(["error": "\(error)"], status: .serviceUnavailable)
            }
        }
        router.post("api/dead-letters/replay") { request, _ -> Response in
            await acting(on: request) { selection, tools in
                let replay = try await tools.replay(dryRun: false, rate: nil, maxRedrives: selection.maxRedrives ?? Self.defaultMaxRedrives) { _ in }
                Self.count("replay")
                logger.info(
                    "console: replay", metadata: ["replayed": "\(replay.replayed)", "refused": "\(replay.refused)", "failed": "\(replay.failed)"])
                return ConsoleResponse.json(ConsoleJSON.replay(replay, asked: selection.ids))
            }
        }
        router.post("api/dead-letters/purge") { request, _ -> Response in
            await acting(on: request) { selection, tools in
                let deleted = try await tools.purgeMatching { _ in }
                Self.count("purge")
                logger.info("console: purge", metadata: ["deleted": "\(deleted.count)"])
                return ConsoleResponse.json([
                    "deleted": deleted.count, "deletedIds": deleted, "notFound": selection.ids.filter { !deleted.contains($0) },
                ])
            }
        }
    }
}
