#if canImport(Glibc)
    import Glibc
#endif

/// glibc malloc settings for a long-running daemon, applied at start unless the operator chose
/// otherwise through glibc's own variables.
///
/// Why: with glibc's defaults the 2-million-command soak grew from 67 to 90 MiB after the
/// completion journal's index was full and stayed there: one arena per thread that ever allocated
/// (up to 8 per core) keeps freed memory, and the mmap threshold climbs after each large free so
/// big buffers land in arenas too. With two arenas and a fixed 1 MiB threshold the same soak stays
/// flat once the index is full (README, "Benchmark").
public enum AllocatorTuning {
    /// glibc malloc arenas the daemon allows itself unless `MALLOC_ARENA_MAX` says otherwise.
    public static let arenaLimit: Int32 = 2
    /// Allocations above this many bytes are mapped, not taken from the heap (`MALLOC_MMAP_THRESHOLD_` overrides).
    public static let mmapThreshold: Int32 = 1 << 20

    // <malloc.h> is not in Swift's Glibc module; these values are part of glibc's stable ABI.
    private static let arenaMaxParameter: Int32 = -8  // M_ARENA_MAX
    private static let mmapThresholdParameter: Int32 = -3  // M_MMAP_THRESHOLD
    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32

    private typealias MallocTrim = @convention(c) (Int) -> Int32

    /// A glibc function looked up at run time, so another C library simply has none.
    private static func glibcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
            return unsafeBitCast(symbol, to: type)
        #else
            return nil
        #endif
    }

    private static var mallocTrim: MallocTrim? { glibcFunction("malloc_trim", as: MallocTrim.self) }
    private static var mallopt: Mallopt? { glibcFunction("mallopt", as: Mallopt.self) }

    /// Hands free memory inside the heap back to the kernel, not only at its top: the pages a
    /// burst (a backlog after a broker pause, a compaction) left free between live allocations.
    /// Without it the soak's resident size ratcheted up by a few MiB at each burst and never
    /// came down.
    public static func releaseFreeMemory() {
        _ = mallocTrim?(0)
    }

    /// Applies what the environment leaves open; returns the settings applied, for the start log.
    @discardableResult
    public static func apply(environment: [String: String]) -> [String: String] {
        var applied: [String: String] = [:]
        guard let mallopt else { return applied }
        if environment["MALLOC_ARENA_MAX"] == nil, mallopt(arenaMaxParameter, arenaLimit) == 1 {
            applied["malloc.arenaMax"] = String(arenaLimit)
        }
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil, mallopt(mmapThresholdParameter, mmapThreshold) == 1 {
            applied["malloc.mmapThreshold"] = String(mmapThreshold)
        }
        return applied
    }
}
