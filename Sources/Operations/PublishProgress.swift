import Foundation
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// How far a `publish` of one file got: every line up to `confirmedThroughLine` is on the queue
/// (the broker confirmed it, or the line was skipped as invalid). Written atomically (a temporary
/// file renamed over the old one) while publishing and at the end, so a run stopped in any way,
/// `kill -9` included, leaves a record that `--resume` can trust.
struct PublishProgress: Codable, Equatable {
    var file: String
    /// The file's content hash: a file changed since cannot be resumed.
    var contentHash: String
    var confirmedThroughLine: Int
    var published: Int
    var complete: Bool
    var updatedAt: String

    static func defaultPath(forInput path: String) -> String { path + ".progress" }

    static func load(_ path: String) throws(OperatorError) -> PublishProgress? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(PublishProgress.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw OperatorError(.invalidInput, "the progress file \(path) cannot be read (\(error)); remove it to start over")
        }
    }

    func save(_ path: String) throws(OperatorError) {
        let temporary = path + ".tmp-\(getpid())"
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(self).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw OperatorError(.runtime, "cannot write the progress file \(temporary): \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw OperatorError(.runtime, "cannot write the progress file \(path): \(reason)")
        }
    }
}
