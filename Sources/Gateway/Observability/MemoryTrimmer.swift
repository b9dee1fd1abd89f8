import ServiceLifecycle

/// Returns the allocator's free pages to the kernel once a minute, for as long as the daemon runs
/// (see `AllocatorTuning.releaseFreeMemory`). A few milliseconds of allocator locks a minute.
struct MemoryTrimmer: Service {
    var interval: Duration = .seconds(60)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                AllocatorTuning.releaseFreeMemory()
            }
        }
    }
}
