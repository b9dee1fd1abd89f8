import Foundation
import Synchronization
import WorkModeDomain

#if canImport(Glibc)
import Glibc
#endif

/// The completion journal of CONTRACT.md section 4: an append-only file that remembers, per command
/// ID, that a forward started and how the command ended, so a redelivered command that already
/// completed is not sent to OIFDE again, even after `kill -9`.
///
/// Each record is one line, `CRC32 JSON`. Records reach the kernel with `write(2)` before the
/// caller goes on, which survives the process being killed; a torn last record (the process died
/// mid-write) fails its checksum and is dropped at load. The file is rewritten with only the live
/// entries when it holds twice as many records as `capacity`. Entries older than `ttl`, or beyond
/// `capacity` (oldest first), are forgotten.
///
/// Memory holds an index only (ID, state, time, and where the completion record sits in the file);
/// a stored result is read back from the file when a redelivered command needs it, which is rare.
/// Keeping every result event in memory cost about 600 bytes a command, 60 MB at the default
/// capacity of 100,000.
public final class CompletionJournal: Sendable {
    public enum Lookup: Sendable, Equatable {
        case unknown
        /// A forward started and no outcome was recorded: OIFDE may or may not have applied it.
        case inDoubt
        case completed(JournalCompletion)
    }

    struct Entry {
        var started: Bool
        /// The completion record's place in the file.
        var completion: Location?
        var at: Date
    }

    struct Location {
        var offset: Int64
        var length: Int32
    }

    struct State {
        var fd: Int32
        /// Where the next record goes (the file's valid length).
        var fileSize: Int64 = 0
        var entries: [String: Entry] = [:]
        /// Insertion order, for eviction; may hold IDs already evicted (skipped lazily).
        var order: [String] = []
        var orderHead = 0
        var recordsInFile = 0
        var droppedAtLoad = 0
    }

    public let path: String
    public let capacity: Int
    public let ttl: Duration
    private let state: Mutex<State>

    /// Opens (creating folders and file as needed) and loads the journal.
    public init(path: String, capacity: Int, ttl: Duration, now: Date = Date()) throws {
        self.path = path
        self.capacity = capacity
        self.ttl = ttl
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        var loaded = State(fd: -1)
        let (records, validBytes, dropped) = try Self.readRecords(path: path)
        for (record, location) in records { Self.apply(record, at: location, to: &loaded, capacity: capacity) }
        loaded.droppedAtLoad = dropped
        loaded.recordsInFile = records.count
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

    public enum JournalError: Error, CustomStringConvertible {
        case open(String, Int32)
        case write(String, Int32)
        public var description: String {
            switch self {
            case .open(let path, let code): return "cannot open the journal \(path): \(String(cString: strerror(code)))"
            case .write(let path, let code): return "cannot write the journal \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Records dropped at load because they were torn or corrupt.
    public var droppedAtLoad: Int { state.withLock { $0.droppedAtLoad } }

    public var count: Int { state.withLock { $0.entries.count } }

    public func lookup(_ id: String, now: Date = Date()) -> Lookup {
        state.withLock { state in
            guard let entry = state.entries[id], now.timeIntervalSince(entry.at) <= ttl.timeInterval else { return .unknown }
            if let location = entry.completion {
                // Unreadable now (it was valid when written): forward again, flagged, rather than
                // assume either outcome.
                guard let completion = Self.readCompletion(at: location, fd: state.fd) else { return .inDoubt }
                return .completed(completion)
            }
            return entry.started ? .inDoubt : .unknown
        }
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
        try state.withLock { state throws in
            let location = Location(offset: state.fileSize, length: Int32(line.count))
            try Self.write(line, fd: state.fd, path: path)
            state.fileSize += Int64(line.count)
            Self.apply(record, at: location, to: &state, capacity: capacity)
            state.recordsInFile += 1
            if state.recordsInFile > max(2 * capacity, 1024) { try compact(&state, now: record.at) }
        }
    }

    // MARK: - internals

    private static func write(_ bytes: [UInt8], fd: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw JournalError.write(path, errno)
            }
            offset += written
        }
    }

    private static func apply(_ record: JournalRecord, at location: Location, to state: inout State, capacity: Int) {
        if state.entries[record.id] == nil { state.order.append(record.id) }
        var entry = state.entries[record.id] ?? Entry(started: false, completion: nil, at: record.at)
        switch record.kind {
        case .started: entry.started = true
        case .completed: entry.completion = location
        }
        entry.at = record.at
        state.entries[record.id] = entry
        while state.entries.count > capacity, state.orderHead < state.order.count {
            state.entries.removeValue(forKey: state.order[state.orderHead])
            state.orderHead += 1
        }
        if state.orderHead > 4096, state.orderHead * 2 > state.order.count {
            state.order.removeFirst(state.orderHead)
            state.orderHead = 0
        }
    }

    /// Reads a completion record back from the file.
    private static func readCompletion(at location: Location, fd: Int32) -> JournalCompletion? {
        guard let line = readLine(at: location, fd: fd) else { return nil }
        // Without its line break, as at load.
        return JournalRecord(line: Data(line.dropLast()))?.completion
    }

    /// A record's bytes, line break included.
    private static func readLine(at location: Location, fd: Int32) -> [UInt8]? {
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
        state.entries = state.entries.filter { now.timeIntervalSince($0.value.at) <= ttl.timeInterval }
    }

    /// Rewrites the file with the live entries only: to a temporary file, synced, then renamed over
    /// the journal, so a crash during compaction leaves either the old or the new file whole.
    private func compact(_ state: inout State, now: Date) throws {
        Self.expire(&state, ttl: ttl, now: now)
        let temporary = path + ".compact"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError.open(temporary, errno) }
        var written = 0
        var size: Int64 = 0
        var live: [String] = []
        // Written in large blocks: one write(2) per record made compaction itself a stall.
        var block: [UInt8] = []
        block.reserveCapacity(1 << 20)
        func emit(_ line: [UInt8]) throws {
            block.append(contentsOf: line)
            size += Int64(line.count)
            written += 1
            if block.count >= 1 << 20 {
                try Self.write(block, fd: fd, path: temporary)
                block.removeAll(keepingCapacity: true)
            }
        }
        for id in state.order[state.orderHead...] {
            guard var entry = state.entries[id] else { continue }
            live.append(id)
            // A completion implies the start: writing both kept the compacted file at twice the
            // capacity, the threshold itself, so every later append compacted again.
            if entry.started, entry.completion == nil {
                try emit(try JournalRecord(kind: .started, id: id, at: entry.at, completion: nil).line())
            }
            if let location = entry.completion {
                // The record is copied as it is (it carries its own checksum): decoding and
                // re-encoding 100,000 results under the lock stalled the pipeline for seconds.
                guard let line = Self.readLine(at: location, fd: state.fd), line.last == 0x0A else {
                    // Cannot be read back: keep the command in doubt rather than invent an outcome.
                    if !entry.started { try emit(try JournalRecord(kind: .started, id: id, at: entry.at, completion: nil).line()) }
                    entry.completion = nil
                    entry.started = true
                    state.entries[id] = entry
                    continue
                }
                entry.completion = Location(offset: size, length: Int32(line.count))
                state.entries[id] = entry
                try emit(line)
            }
        }
        try Self.write(block, fd: fd, path: temporary)
        _ = fsync(fd)
        guard rename(temporary, path) == 0 else {
            _ = close(fd)
            throw JournalError.write(path, errno)
        }
        _ = close(state.fd)
        state.fd = fd
        state.order = live
        state.orderHead = 0
        state.recordsInFile = written
        state.fileSize = size
    }

    /// Valid records, the length of the valid prefix, and how many lines were dropped.
    private static func readRecords(path: String) throws -> ([(JournalRecord, Location)], Int, Int) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], 0, 0) }
        var records: [(JournalRecord, Location)] = []
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
                records.append((record, Location(offset: Int64(lineStart - data.startIndex), length: Int32(newline + 1 - lineStart))))
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
