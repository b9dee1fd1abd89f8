/// Lets one console request at a time read the dead-letter queue.
///
/// Every read is a `basic.get` pass that holds what it read unacknowledged until it finishes, so a
/// second pass running beside it sees neither those messages nor them in the queue's depth: the
/// 10 s count refresh overlapping a click on a message answered 404 for a letter that was there,
/// and a replay beside a listing reported letters "no longer in the queue". Taking turns makes
/// each request see the whole queue. Turns are first come, first served.
actor QueueTurns {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` once no other request's `body` is running.
    func take<Value: Sendable>(_ body: @Sendable () async throws -> Value) async throws -> Value {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer { passOn() }
        return try await body()
    }

    /// The turn goes to the next waiter, still busy, so nobody arriving meanwhile overtakes it.
    private func passOn() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
