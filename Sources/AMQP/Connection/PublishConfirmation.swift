import Synchronization

/// The broker's answer to one publish, to be awaited when the caller needs it.
///
/// Publishing returns one of these at once, so a single task can keep a window of publishes in
/// flight without a task per message (pipelined confirms).
public final class PublishConfirmation: Sendable {
    /// Called with the broker's answer on the thread that delivers it.
    public typealias Callback = @Sendable (Result<PublishOutcome, AMQPError>) -> Void

    private enum State {
        case pending(CheckedContinuation<PublishOutcome, any Error>?)
        case pendingCallback(Callback)
        case done(Result<PublishOutcome, AMQPError>)
    }

    private let state = Mutex<State>(.pending(nil))

    init() {}

    init(failed error: AMQPError) {
        state.withLock { $0 = .done(.failure(error)) }
    }

    /// Waits for the broker's ack, nack or return.
    ///
    /// - Throws: ``AMQPError`` when the channel or connection closed before the broker answered:
    ///   the message may or may not have been taken; `CancellationError` when the waiting task was
    ///   cancelled (the confirm may still come; another call can wait for it).
    public func outcome() async throws -> PublishOutcome {
        // Cancellable: a drain that ran out of time must not wait for a broker that stopped
        // answering. The cancellation flag is read under the same lock the handler takes, so a
        // cancellation can never slip between the check and storing the continuation.
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<PublishOutcome, any Error>? = state.withLock { state in
                    switch state {
                    case .done(let result):
                        return result.mapError { $0 as any Error }
                    case .pending:
                        if Task.isCancelled { return .failure(CancellationError()) }
                        state = .pending(continuation)
                        return nil
                    case .pendingCallback:
                        return .failure(AMQPError.invalidArgument("a confirmation with a callback cannot also be awaited"))
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<PublishOutcome, any Error>? in
                guard case .pending(let continuation?) = state else { return nil }
                state = .pending(nil)
                return continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Calls `callback` with the broker's answer: at once when it has arrived, otherwise on the
    /// connection's thread as the confirm (or the connection's end) comes in, with no task to wake
    /// in between. Keep it short: the connection reads no frames while it runs. Either this or
    /// ``outcome()``, once per confirmation.
    public func whenResolved(_ callback: @escaping Callback) {
        let ready = state.withLock { state -> Result<PublishOutcome, AMQPError>? in
            switch state {
            case .done(let result):
                return result
            case .pending(nil):
                state = .pendingCallback(callback)
                return nil
            case .pending(.some), .pendingCallback:
                return .failure(.invalidArgument("a confirmation is awaited or called back once"))
            }
        }
        if let ready { callback(ready) }
    }

    /// The answer if it has arrived, without waiting.
    public var currentOutcome: Result<PublishOutcome, AMQPError>? {
        state.withLock { state in
            if case .done(let result) = state { return result }
            return nil
        }
    }

    func resolve(_ result: Result<PublishOutcome, AMQPError>) {
        enum Waiter {
            case task(CheckedContinuation<PublishOutcome, any Error>)
            case callback(Callback)
        }
        let waiter: Waiter? = state.withLock { state in
            switch state {
            case .done:
                return nil
            case .pending(let continuation):
                state = .done(result)
                return continuation.map(Waiter.task)
            case .pendingCallback(let callback):
                state = .done(result)
                return .callback(callback)
            }
        }
        switch waiter {
        case .task(let continuation): continuation.resume(with: result.mapError { $0 as any Error })
        case .callback(let callback): callback(result)
        case nil: break
        }
    }
}
