import Foundation
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The `process_*` metrics every Prometheus client exports (CPU, memory, file descriptors, start
/// time), read from `/proc/self` at each scrape instead of on a timer, so an idle gateway wakes no
/// thread for them. swift-system-metrics does the same job but is not among the packages this
/// project builds with; the names and units follow the Prometheus client conventions so the usual
/// dashboards work unchanged.
final class ProcessMetrics: Sendable {
    private let cpuSeconds = FloatingPointCounter(label: "process_cpu_seconds_total")
    private let residentMemory = Gauge(label: "process_resident_memory_bytes")
    private let virtualMemory = Gauge(label: "process_virtual_memory_bytes")
    private let openDescriptors = Gauge(label: "process_open_fds")
    private let maxDescriptors = Gauge(label: "process_max_fds")
    private let startTime = Gauge(label: "process_start_time_seconds")
    /// CPU seconds already added to the counter, which only takes increments.
    private let countedCPU = Mutex(0.0)

    /// Samples the process now. A field `/proc` does not give (another kernel, a sandbox) is left out.
    func observe() {
        if let sample = ProcStat.read() {
            let increment = countedCPU.withLock { counted -> Double in
                let delta = sample.cpuSeconds - counted
                guard delta > 0 else { return 0 }
                counted = sample.cpuSeconds
                return delta
            }
            if increment > 0 { cpuSeconds.increment(by: increment) }
            residentMemory.record(sample.residentBytes)
            virtualMemory.record(sample.virtualBytes)
            if let start = sample.startTimeSeconds { startTime.record(start) }
        }
        if let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            // One entry is the descriptor the listing itself had open.
            openDescriptors.record(max(0, open.count - 1))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxDescriptors.record(Double(limit.rlim_cur)) }
    }
}

/// The fields of `/proc/self/stat` (proc(5)) the process metrics need.
struct ProcStat: Equatable {
    var cpuSeconds: Double
    var virtualBytes: Double
    var residentBytes: Double
    /// Seconds since the epoch; nil when the boot time is unknown.
    var startTimeSeconds: Double?

    static func read() -> ProcStat? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8) else { return nil }
        let bootTime = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap(Self.bootTime(fromProcStat:))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        return parse(stat, ticksPerSecond: ticks, pageSize: pageSize, bootTime: bootTime)
    }

    /// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
    /// itself hold spaces and parentheses, so fields are counted from the last `)`.
    static func parse(_ line: String, ticksPerSecond: Double, pageSize: Double, bootTime: Double?) -> ProcStat? {
        guard ticksPerSecond > 0, let close = line.lastIndex(of: ")") else { return nil }
        // After the name: field 3 (state) is index 0 here.
        let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func field(_ number: Int) -> Double? {
            let index = number - 3
            guard index >= 0, index < fields.count else { return nil }
            return Double(fields[index])
        }
        guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23), let resident = field(24)
        else { return nil }
        return ProcStat(
            cpuSeconds: (user + system) / ticksPerSecond, virtualBytes: virtual, residentBytes: resident * pageSize,
            startTimeSeconds: bootTime.map { $0 + start / ticksPerSecond })
    }

    /// The `btime` line of `/proc/stat`: the boot time in seconds since the epoch.
    static func bootTime(fromProcStat text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
