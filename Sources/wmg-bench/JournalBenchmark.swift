import Foundation
import Gateway

/// The completion journal on its own, as the pipeline uses it per command (lookup, start,
/// completion with a result event of the usual size), at full speed: what one command waits for
/// the journal, including while it compacts, and the resident memory at the end.
struct JournalBenchmark {
    let commands: Int
    let capacity: Int
    /// Inline: the command that crosses the threshold waits for the whole compaction, as every
    /// command did while it held the lock before compaction moved to its own thread.
    let inline: Bool

    func run() throws {
        let directory = NSTemporaryDirectory() + "wmg-journal-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try CompletionJournal(
            compaction: inline ? .inline : .background, path: directory + "/completions.journal", capacity: capacity, ttl: .seconds(3600)
        )
        let event = Array(repeating: UInt8(ascii: "x"), count: 420)
        var waits: [Double] = []
        waits.reserveCapacity(commands)
        let started = ContinuousClock.now
        for n in 0..<commands {
            let id = "bench-\(n)-5f0c2a"
            let before = ContinuousClock.now
            guard journal.lookup(id) == .unknown else { throw BenchError("\(id) was not new") }
            try journal.recordStart(id)
            try journal.recordCompletion(id, JournalCompletion(status: "succeeded", event: event, deadLetter: nil))
            waits.append((ContinuousClock.now - before).seconds * 1_000_000)
        }
        let seconds = (ContinuousClock.now - started).seconds
        waits.sort()
        func percentile(_ p: Double) -> Double { waits[min(waits.count - 1, Int(Double(waits.count) * p))] }
        let figures: [String: Any] = [
            "commands": commands, "capacity": capacity, "compaction": inline ? "inline" : "background",
            "commandsPerSecond": Int(Double(commands) / seconds),
            "waitMicroseconds": [
                "p50": percentile(0.5), "p99": percentile(0.99), "p999": percentile(0.999), "p9999": percentile(0.9999),
                "max": waits.last ?? 0,
            ],
            "slowerThan10ms": waits.reversed().prefix { $0 > 10_000 }.count,
            "residentMiB": Double(residentKiB()) / 1024,
        ]
        let json = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    private func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
