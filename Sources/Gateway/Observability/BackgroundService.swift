import ServiceLifecycle

/// Work beside the pipeline that has nothing to drain (the dead-letter watch): it runs until the
/// gateway stops, and a graceful shutdown cancels it at once.
struct BackgroundService: Service {
    let body: @Sendable () async -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { await body() }
    }
}
