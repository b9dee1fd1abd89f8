import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The identities `publish` gives the commands of a file, the same on every run of the same file,
/// so running a failed publish again is answered by the daemon's completion journal instead of
/// forwarding again what the first run already sent.
enum BatchIdentity {
    /// FNV-1a, 64 bits: stable across processes and machines (Swift's `Hasher` is seeded per
    /// process).
    static func hash<Bytes: Sequence>(_ bytes: Bytes, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where Bytes.Element == UInt8 {
        var value = seed
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
        return value
    }

    static func hash(_ text: String) -> UInt64 { hash(text.utf8) }

    /// 128 bits of the file's bytes as 32 hex digits: two FNV-1a runs with different seeds. Not a
    /// cryptographic digest (nobody forges batch files against themselves); enough that two
    /// different files never share IDs.
    static func contentHash(path: String) throws(OperatorError) -> String {
        guard let file = fopen(path, "r") else { throw OperatorError(.invalidInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            guard count > 0 else { break }
            buffer.withUnsafeBufferPointer { all in
                let chunk = UnsafeBufferPointer(rebasing: all[0..<count])
                first = hash(chunk, seed: first)
                second = hash(chunk, seed: second)
            }
        }
        return hex(first) + hex(second)
    }

    /// The message ID of a line that names none: the file's hash and the line number.
    static func messageId(contentHash: String, line: Int) -> String {
        "batch-\(contentHash.prefix(24))-\(line)"
    }

    static func correlationId(prefix: String, line: Int) -> String { "\(prefix)-\(line)" }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
