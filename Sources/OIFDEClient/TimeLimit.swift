/// Thrown when an exchange did not finish within its time limit.
struct TimeLimitExceeded: Error {}

/// Runs `operation` and cancels it when `limit` passes first. async-http-client's own deadline
/// ends when the response head arrives, so a body that trickles a byte at a time would otherwise
/// hold the attempt (and the call's lane) for as long as the server likes; cancelling the task
/// that reads the body cancels the request and closes its connection.
func withTimeLimit<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeLimitExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimeLimitExceeded() }
        return first
    }
}
