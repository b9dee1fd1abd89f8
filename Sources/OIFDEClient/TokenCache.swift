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
        case fetching(id: UInt64, Task<Fetch, Never>)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var fetchCount: [String: Int] = [:]
        var nextFetch: UInt64 = 0
    }

    private let state = Mutex(State())

    private enum Source {
        case cached(Fetch)
        case fetching(Task<Fetch, Never>)
    }

    /// A cached token, or the outcome of the one fetch in flight for this tenant. A caller whose
    /// task is cancelled stops waiting at once (its attempt ends as not sent); the fetch goes on
    /// for the others and is cached as usual.
    func token(for tenant: String, fetch: @escaping @Sendable () async -> Fetch) async -> Fetch {
        let fetching = state.withLock { state -> Source in
            let now = ContinuousClock.now
            switch state.entries[tenant] {
            case .valid(let token, let refreshAt) where now < refreshAt:
                return .cached(.token(token, lifetime: refreshAt - now))
            case .fetching(_, let task):
                return .fetching(task)
            case .valid, nil:
                state.nextFetch += 1
                let id = state.nextFetch
                let task = Task { [self] in
                    let outcome = await fetch()
                    store(outcome, tenant: tenant, fetch: id)
                    return outcome
                }
                state.entries[tenant] = .fetching(id: id, task)
                state.fetchCount[tenant, default: 0] += 1
                return .fetching(task)
            }
        }
        switch fetching {
        case .cached(let cached): return cached
        case .fetching(let task): return await Self.value(of: task)
        }
    }

    private func store(_ outcome: Fetch, tenant: String, fetch id: UInt64) {
        state.withLock { state in
            // Only this fetch's own entry: an invalidation meanwhile leaves nothing to replace.
            guard case .fetching(let current, _) = state.entries[tenant], current == id else { return }
            switch outcome {
            case .token(let token, let lifetime):
                // Refresh a little early so a token never expires on its way to OIFDE.
                let margin = min(Duration.seconds(60), lifetime / 10)
                state.entries[tenant] = .valid(token: token, refreshAt: ContinuousClock.now + lifetime - margin)
            case .failed:
                state.entries[tenant] = nil
            }
        }
    }

    /// The fetch's outcome, or a not-sent failure as soon as the waiting task is cancelled.
    private static func value(of task: Task<Fetch, Never>) async -> Fetch {
        let waiter = Waiter()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.wait(continuation)
                Task { waiter.resume(await task.value) }
            }
        } onCancel: {
            waiter.resume(.failed(TokenFailure(.transport(.cancelledBeforeSending))))
        }
    }

    /// One continuation resumed once: by the fetch or by the cancellation, whichever comes first.
    private final class Waiter: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<Fetch, Never>?, early: Fetch?, done: Bool)>((nil, nil, false))

        func wait(_ continuation: CheckedContinuation<Fetch, Never>) {
            let early = state.withLock { state -> Fetch? in
                if let early = state.early {
                    state.done = true
                    return early
                }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        func resume(_ outcome: Fetch) {
            let continuation = state.withLock { state -> CheckedContinuation<Fetch, Never>? in
                guard !state.done else { return nil }
                guard let continuation = state.continuation else {
                    if state.early == nil { state.early = outcome }
                    return nil
                }
                state.done = true
                state.continuation = nil
                return continuation
            }
            continuation?.resume(returning: outcome)
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
