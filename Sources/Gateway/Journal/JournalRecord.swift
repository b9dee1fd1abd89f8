import Foundation
import WorkModeDomain

/// What the journal keeps about a completed command: enough to publish its result again, and its
/// dead letter when it had one.
public struct JournalCompletion: Sendable, Hashable, Codable {
    /// The command's status (`succeeded`, `rejected`, …).
    public var status: String
    /// The result event body as first published.
    public var event: [UInt8]
    /// The dead-letter headers, when the command was dead-lettered.
    public var deadLetter: [DeadLetterHeader]?

    /// One dead-letter header as journaled: a text or an integer value.
    public struct DeadLetterHeader: Sendable, Hashable, Codable {
        /// The header name.
        public var key: String
        /// Its text value.
        public var string: String?
        /// Its integer value.
        public var int: Int64?
        /// Its boolean value (`x-in-doubt`; records written before it have none).
        public var bool: Bool?
    }

    /// A completed command's stored result event and dead-letter headers, re-published as they are on a redelivery.
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
        case kind = "k"
        case id = "i"
        case at = "t"
        case completion = "c"
    }

    init(kind: Kind, id: String, at: Date, completion: JournalCompletion?) {
        self.kind = kind
        self.id = id
        self.at = at
        self.completion = completion
    }

    /// `{"k":"C","i":ID,"t":MILLIS,"s":STATUS,"e":EVENT,"d":HEADERS}`: the event is its JSON text as
    /// a string and the dead-letter headers a JSON array in a string. Written with the domain's
    /// writer: Foundation's encoder (which wrote the event as an array of numbers) cost more CPU
    /// than the rest of a command's journey through the gateway.
    func line() throws -> [UInt8] {
        var writer = JSONWriter(capacity: 96 + (completion?.event.count ?? 0) * 5 / 4)
        writer.beginObject()
        writer.member("k", kind.rawValue)
        writer.member("i", id)
        writer.member("t", Int((at.timeIntervalSince1970 * 1000).rounded()))
        if let completion {
            writer.member("s", completion.status)
            writer.member("e", String(decoding: completion.event, as: UTF8.self))
            if let headers = completion.deadLetter { writer.member("d", Self.text(of: headers)) }
        }
        writer.endObject()
        let json = writer.bytes
        let checksum = String(CRC32.checksum(json), radix: 16)
        return Array((String(repeating: "0", count: 8 - checksum.count) + checksum + " ").utf8) + json + [0x0A]
    }

    /// The headers as the JSON text `JSONDecoder` reads back (`[{"key":…,"string":…}]`), written
    /// by hand: Foundation's encoder was 8% of the gateway's CPU when every command dead-lettered.
    static func text(of headers: [JournalCompletion.DeadLetterHeader]) -> String {
        var text: [UInt8] = [UInt8(ascii: "[")]
        for header in headers {
            if text.count > 1 { text.append(UInt8(ascii: ",")) }
            var writer = JSONWriter(capacity: 64)
            writer.beginObject()
            writer.member("key", header.key)
            writer.member("string", header.string)
            writer.member("int", header.int.map { Int($0) })
            if let flag = header.bool { writer.member("bool", flag) }
            writer.endObject()
            text.append(contentsOf: writer.bytes)
        }
        text.append(UInt8(ascii: "]"))
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads back what `text(of:)` wrote, with the domain's parser (the journal's one JSON codec).
    static func headers(from text: String) -> [JournalCompletion.DeadLetterHeader]? {
        guard case .success(.array(let items)) = JSONParser.parse(Array(text.utf8), maxDepth: 4) else { return nil }
        var headers: [JournalCompletion.DeadLetterHeader] = []
        headers.reserveCapacity(items.count)
        for item in items {
            guard case .object(let members) = item else { return nil }
            var key: String?
            var string: String?
            var int: Int64?
            var bool: Bool?
            for member in members {
                switch (member.key, member.value) {
                case ("key", .string(let value)): key = value
                case ("string", .string(let value)): string = value
                case ("int", .number(let value)): int = Int64(value)
                case ("bool", .bool(let value)): bool = value
                default: break
                }
            }
            guard let key else { return nil }
            headers.append(.init(key: key, string: string, int: int, bool: bool))
        }
        return headers
    }

    init?(line: Data) {
        guard line.count > 9, line[line.startIndex + 8] == 0x20,
            let expected = UInt32(String(decoding: line.prefix(8), as: UTF8.self), radix: 16)
        else { return nil }
        let json = Array(line.dropFirst(9))
        guard CRC32.checksum(json) == expected, let object = FlatJSONObject(parsing: json) else { return nil }
        if object["c"] == .nested {
            // A record written before the flat format (an older release's journal): decode it the
            // way it was written. Nothing writes this format any more.
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .millisecondsSince1970
            guard let record = try? decoder.decode(JournalRecord.self, from: Data(json)) else { return nil }
            self = record
            return
        }
        guard let kind = object.string("k").flatMap(Kind.init(rawValue:)), let id = object.string("i"),
            let millis = object.integer("t")
        else { return nil }
        var completion: JournalCompletion?
        if kind == .completed {
            guard let status = object.string("s"), let event = object.string("e") else { return nil }
            var headers: [JournalCompletion.DeadLetterHeader]?
            if let text = object.string("d") {
                guard let decoded = Self.headers(from: text) else { return nil }
                headers = decoded
            }
            completion = JournalCompletion(status: status, event: Array(event.utf8), deadLetter: headers)
        }
        self.init(kind: kind, id: id, at: Date(timeIntervalSince1970: Double(millis) / 1000), completion: completion)
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
