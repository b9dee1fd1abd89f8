import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive `flock` on `<dedupe.path>.lock`, held for the daemon's life: two gateways writing
/// one journal interleave their records, and the next start drops the torn ones and forwards
/// completed commands again. A sidecar file, because compaction renames a new journal over the
/// old one and a lock on the journal itself would go with the old inode. The kernel releases it
/// when the process dies, so a `kill -9` never leaves a stale lock behind.
final class JournalLock: Sendable {
    let path: String
    private let fd: Int32

    struct Taken: Error, CustomStringConvertible {
        let journal: String
        let holder: String?
        var description: String {
            "dedupe.path \(journal) is in use by another gateway" + (holder.map { " (pid \($0))" } ?? "")
                + ": each process needs a journal of its own"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        let path: String
        let code: Int32
        var description: String { "cannot lock the journal (\(path)): \(String(cString: strerror(code)))" }
    }

    init(journal: String) throws {
        let directory = (journal as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        path = journal + ".lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failed(path: path, code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            _ = close(fd)
            guard code == EWOULDBLOCK else { throw Failed(path: path, code: code) }
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
            throw Taken(journal: journal, holder: holder?.isEmpty == false ? holder : nil)
        }
        // Who holds it, for the refusal another process prints.
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit { _ = close(fd) }
}
