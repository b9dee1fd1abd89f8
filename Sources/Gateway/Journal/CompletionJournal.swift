import CoreFoundation
import Foundation
import Logging
import PipelineCore
import Synchronization
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// The completion journal of docs/contract.md section 4: an append-only file that remembers, per command
/// ID, that a forward started and how the command ended, so a redelivered command that already
/// completed is not sent to OIFDE again, even after `kill -9`.
///
/// Each record is one line, `CRC32 JSON`. Records reach the kernel with `write(2)` before the
/// caller goes on, which survives the process being killed; a torn last record (the process died
/// mid-write) fails its checksum and is dropped at load. The file is rewritten with only the live
/// entries when it holds twice as many records as `capacity`, on a thread of its own while appends
/// go on (see `JournalCompaction.swift`). Entries older than `ttl`, or beyond `capacity` (oldest
/// first), are forgotten.
///
/// Memory holds an index only: per command, a 64-bit hash of its ID, the time, and where its
/// deciding record sits in the file. A hit is confirmed by reading that record back and comparing
/// the ID, so two IDs that share a hash never share an outcome; that read happens only for
/// redeliveries, which are rare. Keeping every result event in memory cost about 600 bytes a
/// command (60 MB at the default capacity of 100,000); keeping the ID strings as keys about 200
/// (20 MB); the hashed index about 100, most of it the dictionary's spare buckets.
public final class CompletionJournal: Sendable {
    /// What the journal knows about a command ID.
    public enum Lookup: Sendable, Equatable {
        case unknown
        /// A forward started and no outcome was recorded: OIFDE may or may not have applied it.
        case inDoubt
        case completed(JournalCompletion)

        /// The lookup as the pipeline core's journal decision reads it.
        var entry: JournalDecision<JournalCompletion>.Entry {
            switch self {
            case .unknown: return .unknown
            case .inDoubt: return .started
            case .completed(let completion): return .completed(completion)
            }
        }
    }

    /// Where the record that decides a lookup sits: the completion once there is one, else the
    /// latest start. Length 0: the record could not be read back at compaction, so the command is
    /// in doubt and is not written to the compacted file (its ID is not known in memory).
    struct Location: Equatable {
        var offset: Int64
        var length: Int32
        static let unreadable = Location(offset: 0, length: 0)
        /// Only while a compaction sorts out what it keeps.
        static let expired = Location(offset: -1, length: -1)
    }

    struct State {
        var fd: Int32
        /// Where the next record goes (the file's valid length).
        var fileSize: Int64 = 0
        var index: JournalIndex
        var recordsInFile = 0
        var droppedAtLoad = 0
        /// One compaction at a time; appends go on while it runs.
        var compacting = false
        /// After a failed compaction: the record count at which to try again.
        var retryCompactionAt = 0
        var compactions = 0
        /// Appends since the running compaction took its snapshot, for it to index in the new file.
        var appendedDuringCompaction: [AppendNote] = []
        /// When to check next that the path still names the open file.
        var nextIdentityCheck = ContinuousClock.now + .seconds(1)
        /// The path no longer names the open file (deleted or replaced); a compaction recreates it.
        var fileLost = false
    }

    /// How compaction runs: on its own thread in the daemon; inline where a test needs to know
    /// exactly when it happened, or the benchmark shows what a stall under the lock cost.
    public enum CompactionMode: Sendable {
        case background
        case inline
        /// In the background, calling the closure between the bulk copy and the catch-up: a test
        /// appends there to prove records written during a compaction are kept.
        case backgroundPausing(@Sendable () -> Void)
    }

    /// The journal file (`dedupe.path`).
    public let path: String
    /// How many commands it remembers at most (`dedupe.capacity`).
    public let capacity: Int
    /// How long it remembers a command (`dedupe.ttl`).
    public let ttl: Duration
    let state: Mutex<State>
    let compactionMode: CompactionMode
    let logger: Logger?

    /// The index key of a command ID (a parameter so a test can force two IDs onto one key).
    let key: @Sendable (String) -> UInt64

    /// Opens (creating folders and file as needed) and loads the journal.
    public convenience init(path: String, capacity: Int, ttl: Duration, now: Date = Date(), logger: Logger? = nil) throws {
        try self.init(compaction: .background, path: path, capacity: capacity, ttl: ttl, now: now, logger: logger)
    }

    /// Opens (creating folders and file as needed) and loads the journal, choosing how compaction runs and how IDs are keyed (tests force
    /// collisions with `key`).
    public init(
        compaction: CompactionMode, path: String, capacity: Int, ttl: Duration, now: Date = Date(),
        key: @escaping @Sendable (String) -> UInt64 = CompletionJournal.hashKey, logger: Logger? = nil
    ) throws {
        self.key = key
        self.compactionMode = compaction
        self.logger = logger
        self.path = path
        self.capacity = capacity
        self.ttl = ttl
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var loaded = State(fd: -1, index: JournalIndex(capacity: capacity))
        // Applied one by one: holding every decoded record first cost the size of the file again.
        let (recordCount, validBytes, dropped) = try Self.readRecords(path: path) { record, location in
            Self.apply(record, key: key(record.id), at: location, to: &loaded.index)
        }
        loaded.droppedAtLoad = dropped
        loaded.recordsInFile = recordCount
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError.open(path, errno) }
        // Cut a torn tail so new records start on a clean line.
        _ = ftruncate(fd, off_t(validBytes))
        _ = lseek(fd, 0, SEEK_END)
        loaded.fd = fd
        loaded.fileSize = Int64(validBytes)
        self.state = Mutex(loaded)
        state.withLock { state in Self.expire(&state, ttl: ttl, now: now) }
    }

    deinit { state.withLock { _ = close($0.fd) } }

    /// Why the journal could not be opened, written or read (with the errno text).
    public enum JournalError: Error, CustomStringConvertible {
        case open(String, Int32)
        case write(String, Int32)
        case read(Int32)
        /// One line naming the file and the system's error.
        public var description: String {
            switch self {
            case .open(let path, let code): return "cannot open the journal \(path): \(String(cString: strerror(code)))"
            case .write(let path, let code): return "cannot write the journal \(path): \(String(cString: strerror(code)))"
            case .read(let code): return "cannot read the journal back: \(String(cString: strerror(code)))"
            }
        }
    }

    /// Records dropped at load because they were torn or corrupt.
    public var droppedAtLoad: Int { state.withLock { $0.droppedAtLoad } }

    /// Commands remembered now.
    public var count: Int { state.withLock { $0.index.count } }

    /// The file's size, the records in it and the compactions since start: the journal's metrics.
    public var statistics: (fileBytes: Int64, records: Int, compactions: Int) {
        state.withLock { ($0.fileSize, $0.recordsInFile, $0.compactions) }
    }

    /// The size and free space of the file system the journal is on, for the alert that fires before
    /// a full volume pauses the pipeline. Nil when `statvfs` fails.
    public var volume: (sizeBytes: Double, freeBytes: Double)? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        let unit = Double(stats.f_frsize)
        return (Double(stats.f_blocks) * unit, Double(stats.f_bavail) * unit)
    }

    /// What the journal knows of `id` within `ttl`: nothing, an in-doubt forward, or the stored outcome (confirmed by reading the record back).
    public func lookup(_ id: String, now: Date = Date()) -> Lookup {
        state.withLock { state in
            guard let entry = state.index[key(id)], now.timeIntervalSince1970 - entry.at <= ttl.timeInterval else { return .unknown }
            // Unreadable (it was valid when written): forward again, flagged, rather than assume
            // either outcome.
            guard entry.location.length > 0, let record = Self.readRecord(at: entry.location, fd: state.fd) else { return .inDoubt }
            // Another ID with the same hash.
            guard record.id == id else { return .unknown }
            if entry.completed, let completion = record.completion { return .completed(completion) }
            return .inDoubt
        }
    }

    /// A command ID's index key. Swift's hasher is seeded per process, which is fine: the
    /// index is rebuilt from the file at every start.
    public static func hashKey(_ id: String) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(id)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    /// Notes that a forward is about to start. Written before the HTTP request leaves.
    public func recordStart(_ id: String, now: Date = Date()) throws {
        try append(JournalRecord(kind: .started, id: id, at: now, completion: nil))
    }

    /// Notes how the command ended. Written as soon as OIFDE answered, before anything is published.
    public func recordCompletion(_ id: String, _ completion: JournalCompletion, now: Date = Date()) throws {
        try append(JournalRecord(kind: .completed, id: id, at: now, completion: completion))
    }

    private func append(_ record: JournalRecord) throws {
        let line = try record.line()
        let compaction = try state.withLock { state throws -> CompactionJob? in
            let location = Location(offset: state.fileSize, length: Int32(line.count))
            try Self.append(line, fd: state.fd, at: state.fileSize, path: path)
            state.fileSize += Int64(line.count)
            let key = key(record.id)
            Self.apply(record, key: key, at: location, to: &state.index)
            if state.compacting {
                state.appendedDuringCompaction.append(
                    AppendNote(key: key, completed: record.kind == .completed, at: record.at.timeIntervalSince1970, location: location)
                )
            }
            state.recordsInFile += 1
            if !state.compacting, ContinuousClock.now >= state.nextIdentityCheck, let job = checkIdentity(&state, now: record.at) { return job }
            guard !state.compacting, state.recordsInFile > compactionThreshold, state.recordsInFile >= state.retryCompactionAt else { return nil }
            state.compacting = true
            return CompactionJob(entries: state.index.entries, fd: state.fd, size: state.fileSize, now: record.at)
        }
        if let compaction { start(compaction) }
    }

    /// Records in the file that start a compaction.
    var compactionThreshold: Int { max(2 * capacity, 1024) }

    // MARK: - internals

    /// Whether `path` still names the file being written: a journal deleted (or replaced) under a
    /// running gateway would otherwise be written on into an unlinked inode, and the next start
    /// would forget every completion. When it does not, a compaction writes the live entries to a
    /// new file at `path`. Checked at most once a second, from the append path.
    private func checkIdentity(_ state: inout State, now: Date) -> CompactionJob? {
        state.nextIdentityCheck = ContinuousClock.now + .seconds(1)
        var open = stat()
        var named = stat()
        guard fstat(state.fd, &open) == 0 else { return nil }
        let same = stat(path, &named) == 0 && named.st_ino == open.st_ino && named.st_dev == open.st_dev
        if same {
            if state.fileLost {
                state.fileLost = false
                logger?.info("the journal file is back", metadata: ["path": "\(path)"])
            }
            return nil
        }
        if !state.fileLost {
            state.fileLost = true
            logger?.error(
                "the journal file was deleted or replaced while running; recreating it from the entries in memory",
                metadata: ["path": "\(path)", "entries": "\(state.index.count)"]
            )
        }
        state.compacting = true
        return CompactionJob(entries: state.index.entries, fd: state.fd, size: state.fileSize, now: now)
    }

    /// Writes one record at the end of the valid data. A write that fails part-way (a full disk)
    /// is cut off again, so the next record starts where this one should have and every location
    /// in the index stays right.
    static func append(_ bytes: [UInt8], fd: Int32, at offset: Int64, path: String) throws {
        do {
            try bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var done = 0
                while done < raw.count {
                    let written = pwrite(fd, base + done, raw.count - done, off_t(offset) + off_t(done))
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw JournalError.write(path, errno)
                    }
                    done += written
                }
            }
        } catch {
            _ = ftruncate(fd, off_t(offset))
            throw error
        }
    }

    static func write(_ bytes: [UInt8], fd: Int32, path: String) throws {
        try bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, base + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw JournalError.write(path, errno)
                }
                offset += written
            }
        }
    }

    static func apply(_ record: JournalRecord, key: UInt64, at location: Location, to index: inout JournalIndex) {
        apply(key: key, completed: record.kind == .completed, at: record.at.timeIntervalSince1970, location: location, to: &index)
    }

    static func apply(key: UInt64, completed: Bool, at: Double, location: Location, to index: inout JournalIndex) {
        index.upsert(key) {
            JournalIndex.Entry(key: key, location: location, completed: completed, at: at)
        } update: { entry in
            // A start after a completion (a forward repeated while in doubt that then completed
            // elsewhere) leaves the completion deciding.
            if completed || !entry.completed {
                entry.location = location
                entry.completed = completed
            }
            entry.at = at
        }
    }

    /// Reads a record back from the file.
    private static func readRecord(at location: Location, fd: Int32) -> JournalRecord? {
        guard let line = readLine(at: location, fd: fd) else { return nil }
        // Without its line break, as at load.
        return JournalRecord(line: Data(line.dropLast()))
    }

    /// A record's bytes, line break included.
    static func readLine(at location: Location, fd: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: Int(location.length))
        var done = 0
        while done < buffer.count {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return pread(fd, base + done, raw.count - done, off_t(location.offset) + off_t(done))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            done += count
        }
        return buffer
    }

    private static func expire(_ state: inout State, ttl: Duration, now: Date) {
        let now = now.timeIntervalSince1970
        state.index = state.index.rebuilt { now - $0.at <= ttl.timeInterval ? $0 : nil }
    }

    /// Passes each valid record to `body`; returns how many there were, the length of the valid
    /// prefix, and how many lines were dropped.
    private static func readRecords(path: String, _ body: (JournalRecord, Location) -> Void) throws -> (Int, Int, Int) {
        // Mapped, not read: the file can hold twice the capacity in results, and mapped pages go
        // back to the kernel without adding to the daemon's heap.
        let probe = open(path, O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else { return (0, 0, 0) }
        let size = lseek(probe, 0, SEEK_END)
        _ = close(probe)
        // An empty file cannot be mapped.
        guard size > 0 else { return (0, 0, 0) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        var records = 0
        var dropped = 0
        var validEnd = 0
        var lineStart = data.startIndex
        while lineStart < data.endIndex {
            guard let newline = data[lineStart...].firstIndex(of: 0x0A) else {
                // No newline: the last write was torn.
                dropped += 1
                break
            }
            if let record = JournalRecord(line: data[lineStart..<newline]) {
                body(record, Location(offset: Int64(lineStart - data.startIndex), length: Int32(newline + 1 - lineStart)))
                records += 1
                validEnd = newline + 1 - data.startIndex
            } else {
                dropped += 1
                validEnd = newline + 1 - data.startIndex
            }
            lineStart = newline + 1
        }
        return (records, validEnd, dropped)
    }
}
