import NIOCore
import NIOPosix

/// Where Swift concurrency runs its jobs in this process.
public enum ConcurrencyExecutor {
    /// Runs Swift concurrency on NIO's event-loop threads instead of Dispatch's pool.
    ///
    /// Every forwarded command crosses between async code and NIO (the HTTP client) several
    /// times; with two pools each crossing is a thread wake-up and a context switch on a
    /// machine that shares two cores with the broker. With one pool a continuation resumed on an
    /// event loop keeps running there. Must run first thing in `main`, before other async work
    /// (the approach Vapor's entry point takes). `WMG_EXECUTOR=dispatch` keeps Dispatch's pool:
    /// for comparing the two in the benchmark, or if a platform misbehaves.
    ///
    /// Returns whether NIO took over.
    @discardableResult
    public static func adoptEventLoops(environment: [String: String]) -> Bool {
        guard environment["WMG_EXECUTOR"] != "dispatch" else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
