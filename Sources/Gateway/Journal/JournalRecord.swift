import Foundation
import WorkModeDomain

/// What the journal keeps about a completed command: enough to publish its result again, and its
/// dead letter when it had one.
public struct JournalCompletion: Sendable, Hashable, Codable {
    public var status: String
    /// The result event body as first published.
    public var event: [UInt8]
    /// The dead-letter headers, when the command was dead-lettered.
    public var deadLetter: [DeadLetterHeader]?

    public struct DeadLetterHeader: Sendable, Hashable, Codable {
        public var key: String
        public var string: String?
        public var int: Int64?
    }

    public init(status: String, event: [UInt8], deadLetter: [DeadLetterHeader]?) {
        self.status = status
        self.event = event
        self.deadLetter = deadLetter
    }
}

/// One journal line: `CRC32HEX JSON\n`, the checksum covering the JSON bytes.
struct JournalRecord: Codable {
    enum Kind: String, Codable {
        case started = "S"
        case completed = "C"
    }

    let kind: Kind
    let id: String
    let at: Date
    let completion: JournalCompletion?

    private enum CodingKeys: String, CodingKey {
        case kind = "k", id = "i", at = "t", completion = "c"
    }

    init(kind: Kind, id: String, at: Date, completion: JournalCompletion?) {
        self.kind = kind
        self.id = id
        self.at = at
        self.completion = completion
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    func line() throws -> [UInt8] {
        let json = try Self.encoder.encode(self)
        let checksum = String(CRC32.checksum(json), radix: 16)
        return Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + Array(json) + [0x0A]
    }

    init?(line: Data) {
        guard line.count > 9, line[line.startIndex + 8] == 0x20,
            let expected = UInt32(String(decoding: line.prefix(8), as: UTF8.self), radix: 16)
        else { return nil }
        let json = line.dropFirst(9)
        guard CRC32.checksum(json) == expected else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        guard let record = try? decoder.decode(JournalRecord.self, from: Data(json)) else { return nil }
        self = record
    }
}

/// CRC-32 (IEEE), for torn-record detection.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
