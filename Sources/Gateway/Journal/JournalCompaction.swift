import Foundation
import Logging
import Synchronization
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// What a compaction starts from: the index and the file as they were when it was triggered.
/// What an append during a compaction leaves for it: enough to index the record in the new file
/// without parsing it again.
struct AppendNote: Sendable {
    let key: UInt64
    let completed: Bool
    let at: Double
    let location: CompletionJournal.Location
}

struct CompactionJob: Sendable {
    /// The index's entries, oldest first: a copy of the ring only, which the compaction then
    /// turns into the new index's ring in place.
    let entries: [JournalIndex.Entry]
    /// The journal's file at that moment; only a compaction replaces it, and one runs at a time.
    let fd: Int32
    let size: Int64
    let now: Date
}

/// Rewriting the journal with the live entries only, without holding appends up.
///
/// Done under the journal's lock, a compaction at the default capacity (100,000 results, about
/// 60 MB read, written and synced) stalled every command for as long as it took, once per
/// 100,000 commands: the tail of the latency distribution at 1,000 commands/s. Now it copies the
/// snapshot's records to a temporary file on a thread of its own while appends go on to the old
/// file, each noting its key and place; then copies, still without the lock, the bytes appended
/// meanwhile and applies those notes to the new index (no record is parsed again); and takes the
/// lock only for what was appended during that catch-up, to rename the new file over the old.
/// A crash at any point leaves either the old file whole or the new one whole.
extension CompletionJournal {
    func start(_ job: CompactionJob) {
        switch compactionMode {
        case .inline:
            compact(job, pause: nil)
        case .background:
            Thread { self.compact(job, pause: nil) }.start()
        case .backgroundPausing(let pause):
            Thread { self.compact(job, pause: pause) }.start()
        }
    }

    /// Waits until no compaction runs (for tests and the benchmark).
    func waitForCompaction(timeout: Duration = .seconds(30)) -> Bool {
        let end = ContinuousClock.now + timeout
        while state.withLock({ $0.compacting }) {
            guard ContinuousClock.now < end else { return false }
            usleep(1000)
        }
        return true
    }

    /// Compactions finished since the journal was opened.
    var compactions: Int { state.withLock { $0.compactions } }

    private func compact(_ job: CompactionJob, pause: (@Sendable () -> Void)?) {
        let started = ContinuousClock.now
        let temporary = path + ".compact"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            failed(JournalError.open(temporary, errno), temporary: nil)
            return
        }
        do {
            var writer = BlockWriter(fd: fd, path: temporary)
            let now = job.now.timeIntervalSince1970
            let ttl = ttl.timeInterval
            var entries = job.entries
            for position in entries.indices {
                guard now - entries[position].at <= ttl else {
                    entries[position].location = .expired
                    continue
                }
                // The deciding record is copied as it is (it carries its own checksum); a completion
                // implies the start, so one record per command.
                let location = entries[position].location
                guard location.length > 0, let line = Self.readLine(at: location, fd: job.fd), line.last == 0x0A else {
                    // Cannot be read back: in doubt from now on, in memory only.
                    entries[position].location = .unreadable
                    entries[position].completed = false
                    continue
                }
                entries[position].location = Location(offset: writer.size, length: Int32(line.count))
                try writer.emit(line)
            }
            entries.removeAll { $0.location == .expired }
            var index = JournalIndex(ordered: entries, capacity: capacity)
            entries = []
            // Synced before the catch-up: records appended meanwhile are only as durable as
            // every append is (written, not synced), and a sync after the catch-up let appends
            // pile up for the lock while it ran.
            try writer.flush()
            _ = fsync(fd)
            pause?()
            // Catch up until what is left would take the lock only briefly.
            var copied = job.size
            var applied = 0
            for _ in 0..<8 {
                let (reached, notes) = state.withLock { ($0.fileSize, Array($0.appendedDuringCompaction[applied...])) }
                try copyAppended(from: job.fd, copied..<reached, notes: notes, to: &writer, index: &index)
                copied = reached
                applied += notes.count
                if notes.count < 256 { break }
            }
            let tail = try state.withLock { state throws -> Int in
                let notes = Array(state.appendedDuringCompaction[applied...])
                try copyAppended(from: job.fd, copied..<state.fileSize, notes: notes, to: &writer, index: &index)
                try writer.flush()
                guard rename(temporary, path) == 0 else { throw JournalError.write(path, errno) }
                state.fd = fd
                state.index = index
                state.fileSize = writer.size
                state.recordsInFile = writer.records
                state.compacting = false
                state.appendedDuringCompaction = []
                state.compactions += 1
                return notes.count
            }
            // The old file's last reference: closing it frees a file of up to twice the capacity in
            // results, which took hundreds of milliseconds, so not under the lock.
            _ = close(job.fd)
            logger?.debug(
                "journal compacted",
                metadata: [
                    "records": "\(writer.records)", "underLock": "\(tail)",
                    "ms": "\(Int((ContinuousClock.now - started).timeInterval * 1000))",
                ]
            )
        } catch {
            _ = close(fd)
            failed(error, temporary: temporary)
        }
    }

    private func failed(_ error: any Error, temporary: String?) {
        if let temporary { _ = unlink(temporary) }
        // Appends go on to the old file; try again after another half capacity of records rather
        // than on every append.
        state.withLock { state in
            state.compacting = false
            state.appendedDuringCompaction = []
            state.retryCompactionAt = state.recordsInFile + max(capacity / 2, 512)
        }
        logger?.error("journal compaction failed; the journal keeps growing until it succeeds", metadata: ["error": "\(error)"])
    }

    /// Copies the bytes appended to the old file in `range` as they are, and applies the notes the
    /// appends left (in order, each at its place in the new file) to the new index, as the live
    /// index applied them.
    private func copyAppended(
        from source: Int32, _ range: Range<Int64>, notes: [AppendNote], to writer: inout BlockWriter, index: inout JournalIndex
    ) throws {
        guard !range.isEmpty else { return }
        let shift = writer.size - range.lowerBound
        try writer.emit(try Self.readBytes(range, fd: source), records: notes.count)
        for note in notes {
            let location = Location(offset: note.location.offset + shift, length: note.location.length)
            Self.apply(key: note.key, completed: note.completed, at: note.at, location: location, to: &index)
        }
    }

    private static func readBytes(_ range: Range<Int64>, fd: Int32) throws -> [UInt8] {
        guard let bytes = readLine(at: Location(offset: range.lowerBound, length: Int32(range.count)), fd: fd) else {
            throw JournalError.read(errno)
        }
        return bytes
    }
}

/// Writes records to the compacted file in large blocks: one `write(2)` per record made
/// compaction itself slow.
struct BlockWriter {
    let fd: Int32
    let path: String
    private var block: [UInt8] = []
    private(set) var size: Int64 = 0
    private(set) var records = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        block.reserveCapacity(1 << 20)
    }

    mutating func emit(_ bytes: [UInt8], records count: Int = 1) throws {
        block.append(contentsOf: bytes)
        size += Int64(bytes.count)
        records += count
        if block.count >= 1 << 20 { try flush() }
    }

    mutating func flush() throws {
        try CompletionJournal.write(block, fd: fd, path: path)
        block.removeAll(keepingCapacity: true)
    }
}
