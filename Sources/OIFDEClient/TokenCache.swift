import WorkModeDomain

/// Tokens per tenant: cached until shortly before they expire, fetched by one request per tenant
/// however many commands wait for it (single flight), and dropped when OIFDE refuses them.
actor TokenCache {
    enum Fetch: Sendable {
        case token(String, lifetime: Duration)
        case failed(TokenFailure)
    }

    private enum Entry {
        case valid(token: String, refreshAt: ContinuousClock.Instant)
        case fetching(Task<Fetch, Never>)
    }

    private var entries: [String: Entry] = [:]
    private(set) var fetchCount: [String: Int] = [:]

    /// A cached token, or the outcome of the one fetch in flight for this tenant.
    func token(for tenant: String, fetch: @escaping @Sendable () async -> Fetch) async -> Fetch {
        switch entries[tenant] {
        case .valid(let token, let refreshAt) where ContinuousClock.now < refreshAt:
            return .token(token, lifetime: refreshAt - ContinuousClock.now)
        case .fetching(let task):
            return await task.value
        case .valid, nil:
            let task = Task { await fetch() }
            entries[tenant] = .fetching(task)
            fetchCount[tenant, default: 0] += 1
            let outcome = await task.value
            switch outcome {
            case .token(let token, let lifetime):
                // Refresh a little early so a token never expires on its way to OIFDE.
                let margin = min(Duration.seconds(60), lifetime / 10)
                entries[tenant] = .valid(token: token, refreshAt: ContinuousClock.now + lifetime - margin)
            case .failed:
                entries[tenant] = nil
            }
            return outcome
        }
    }

    /// Forgets `token` if it is still the cached one, so the next request fetches a new one. A
    /// token already replaced by a concurrent refresh stays replaced.
    func invalidate(tenant: String, token: String) {
        if case .valid(let cached, _) = entries[tenant], cached == token { entries[tenant] = nil }
    }

    func fetches(for tenant: String) -> Int { fetchCount[tenant] ?? 0 }
}
