import Synchronization
import WorkModeDomain

/// Tokens per tenant: cached until shortly before they expire, fetched by one request per tenant
/// however many commands wait for it (single flight), and dropped when OIFDE refuses them.
///
/// A lock, not an actor: a cached token (the steady state, every command) is read in place on the
/// caller's task, without a hop to another executor and back.
final class TokenCache: Sendable {
    enum Fetch: Sendable {
        case token(String, lifetime: Duration)
        case failed(TokenFailure)
    }

    private enum Entry {
        case valid(token: String, refreshAt: ContinuousClock.Instant)
        case fetching(Task<Fetch, Never>)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var fetchCount: [String: Int] = [:]
    }

    private let state = Mutex(State())

    private enum Step {
        case cached(Fetch)
        case join(Task<Fetch, Never>)
        case lead(Task<Fetch, Never>)
    }

    /// A cached token, or the outcome of the one fetch in flight for this tenant.
    func token(for tenant: String, fetch: @escaping @Sendable () async -> Fetch) async -> Fetch {
        let step = state.withLock { state -> Step in
            let now = ContinuousClock.now
            switch state.entries[tenant] {
            case .valid(let token, let refreshAt) where now < refreshAt:
                return .cached(.token(token, lifetime: refreshAt - now))
            case .fetching(let task):
                return .join(task)
            case .valid, nil:
                let task = Task { await fetch() }
                state.entries[tenant] = .fetching(task)
                state.fetchCount[tenant, default: 0] += 1
                return .lead(task)
            }
        }
        switch step {
        case .cached(let fetched):
            return fetched
        case .join(let task):
            return await task.value
        case .lead(let task):
            let outcome = await task.value
            state.withLock { state in
                // Only this fetch's own entry: an invalidation meanwhile leaves nothing to replace.
                guard case .fetching(let current) = state.entries[tenant], current == task else { return }
                switch outcome {
                case .token(let token, let lifetime):
                    // Refresh a little early so a token never expires on its way to OIFDE.
                    let margin = min(Duration.seconds(60), lifetime / 10)
                    state.entries[tenant] = .valid(token: token, refreshAt: ContinuousClock.now + lifetime - margin)
                case .failed:
                    state.entries[tenant] = nil
                }
            }
            return outcome
        }
    }

    /// Forgets `token` if it is still the cached one, so the next request fetches a new one. A
    /// token already replaced by a concurrent refresh stays replaced.
    func invalidate(tenant: String, token: String) {
        state.withLock { state in
            if case .valid(let cached, _) = state.entries[tenant], cached == token { state.entries[tenant] = nil }
        }
    }

    func fetches(for tenant: String) -> Int { state.withLock { $0.fetchCount[tenant] ?? 0 } }
}
