import PropertyBased
import Testing

@testable import AMQP

@Suite(.timeLimit(.minutes(10))) struct FieldTableTests {
    static let everyKind: FieldTable = [
        "bool": .bool(true), "i8": .int8(-8), "u8": .uint8(8), "i16": .int16(-16), "u16": .uint16(16),
        "i32": .int32(-32), "u32": .uint32(32), "i64": .int64(-64), "u64": .uint64(64), "f": .float(1.5),
        "d": .double(-2.25), "dec": .decimal(scale: 2, value: 12345), "s": .string("grüße"), "x": .bytes([0, 255, 7]),
        "a": .array([.int32(1), .string("two"), .array([]), .table(["k": .void])]),
        "t": .table(["nested": .table(["deeper": .int64(Int64.min)])]), "ts": .timestamp(1_764_000_000), "v": .void,
        "empty": .string(""),
    ]

    @Test func everyKindRoundTripsThroughLibrabbitmq() {
        #expect(Self.everyKind.roundTripThroughLibrabbitmq() == Self.everyKind)
    }

    @Test func subscriptSetsReplacesAndRemoves() {
        var t: FieldTable = ["a": .int32(1)]
        t["b"] = .string("x")
        t["a"] = .int32(2)
        #expect(t.map(\.key) == ["a", "b"])
        #expect(t["a"] == .int32(2))
        t["a"] = nil
        #expect(t["a"] == nil)
        #expect(t.count == 1)
    }

    @Test func arbitraryTablesRoundTripThroughLibrabbitmq() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = SplitMix64(seed: seed)
            let table = Self.randomTable(&random, depth: 0)
            #expect(table.roundTripThroughLibrabbitmq() == table)
        }
    }

    static func randomValue(_ r: inout SplitMix64, depth: Int) -> FieldValue {
        switch r.next() % (depth < 3 ? 13 : 11) {
        case 0: return .bool(r.next() % 2 == 0)
        case 1: return .int8(Int8(truncatingIfNeeded: r.next()))
        case 2: return .uint16(UInt16(truncatingIfNeeded: r.next()))
        case 3: return .int32(Int32(truncatingIfNeeded: r.next()))
        case 4: return .int64(Int64(bitPattern: r.next()))
        case 5: return .double(Double(Int64(bitPattern: r.next())) / 7)
        case 6: return .string(String((0..<(r.next() % 24)).compactMap { _ in Unicode.Scalar(UInt32(r.next() % 0x2FFF)) }.map(Character.init)))
        case 7: return .bytes((0..<(r.next() % 32)).map { _ in UInt8(truncatingIfNeeded: r.next()) })
        case 8: return .timestamp(r.next() % 4_000_000_000)
        case 9: return .decimal(scale: UInt8(r.next() % 10), value: UInt32(truncatingIfNeeded: r.next()))
        case 10: return .void
        case 11: return .array((0..<(r.next() % 5)).map { _ in randomValue(&r, depth: depth + 1) })
        default: return .table(randomTable(&r, depth: depth + 1))
        }
    }

    static func randomTable(_ r: inout SplitMix64, depth: Int) -> FieldTable {
        FieldTable((0..<(r.next() % 8)).map { i in .init(key: "k\(i)-\(r.next() % 1000)", value: randomValue(&r, depth: depth)) })
    }

    @Test func propertiesRoundTripThroughTheCStruct() {
        let properties = MessageProperties(
            contentType: "application/json", contentEncoding: "identity", headers: Self.everyKind, deliveryMode: .persistent,
            priority: 5, correlationId: "corr", replyTo: "reply", expiration: "60000", messageId: "mid",
            timestamp: 1_764_000_000, type: "t", userId: "guest", appId: "app", clusterId: "c"
        )
        let arena = CArena()
        let c = properties.cProperties(in: arena)
        #expect(MessageProperties(copying: c) == properties)
        #expect(MessageProperties(copying: MessageProperties().cProperties(in: arena)) == MessageProperties())
    }
}

/// A small deterministic generator, seeded by the property checker so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
