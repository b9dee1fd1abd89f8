import Foundation
import PropertyBased
import Testing

@testable import WorkModeDomain

/// Deterministic randomness seeded by the property checker, so a failure reproduces from its seed.
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

enum Arbitrary {
    static func text(_ r: inout SplitMix64, length: ClosedRange<Int>, alphabet: [Character]) -> String {
        String((0..<Int.random(in: length, using: &r)).map { _ in alphabet.randomElement(using: &r) ?? "x" })
    }

    static let idAlphabet: [Character] = Array("abcXYZ0123456789-_.:é漢😀 ")
    static let digits: [Character] = Array("0123456789")

    /// Any command the contract calls valid.
    static func validCommand(_ r: inout SplitMix64, passthrough: Bool = false) -> WorkModeCommand {
        let mode = WorkMode.allCases.randomElement(using: &r) ?? .common
        var transfer: CallTransferRequest?
        if mode == .transfer {
            let type = CallTransferType.allCases.randomElement(using: &r) ?? .agent
            let route: String?
            if !type.takesRouteValue {
                route = nil
            } else if type == .thirdPartyNumber {
                route = (Bool.random(using: &r) ? "+" : "") + text(&r, length: 1...32, alphabet: digits)
            } else {
                route = text(&r, length: 1...256, alphabet: idAlphabet)
            }
            transfer = CallTransferRequest(
                type: type, routeValue: route,
                transData: Bool.random(using: &r) ? text(&r, length: 1...300, alphabet: idAlphabet + ["\"", "\\", "\n"]) : nil,
                callingNumber: Bool.random(using: &r) ? text(&r, length: 1...32, alphabet: digits) : nil
            )
        }
        return WorkModeCommand(
            tenantId: text(&r, length: 1...64, alphabet: idAlphabet), callId: text(&r, length: 1...64, alphabet: idAlphabet),
            agentId: text(&r, length: 1...64, alphabet: idAlphabet), workMode: mode, callTransferRequest: transfer,
            authToken: passthrough ? "tok-" + text(&r, length: 20...40, alphabet: idAlphabet) : nil
        )
    }

    static func bytes(_ r: inout SplitMix64, maxCount: Int) -> [UInt8] {
        // Mostly JSON-ish material, so the parser gets past its first byte often.
        let jsonish = Array(#"{}[]:,"\ 0123456789-+.eEtrufalsn"#.utf8) + Array("tenantIdcallIdworkMode".utf8)
        let count = Int.random(in: 0...maxCount, using: &r)
        let mostlyJSON = Bool.random(using: &r)
        return (0..<count).map { _ in
            mostlyJSON ? (jsonish.randomElement(using: &r) ?? 0) : UInt8.random(in: 0...255, using: &r)
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct DecoderPropertyTests {
    @Test func validCommandsRoundTrip() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var r = SplitMix64(seed: seed)
            let command = Arbitrary.validCommand(&r)
            let decoded = CommandDecoder().decode(OIFDERequestBody.commandBody(command))
            #expect(decoded == .success(command))
        }
    }

    @Test func passthroughCommandsRoundTripWithTheirToken() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var r = SplitMix64(seed: seed)
            let command = Arbitrary.validCommand(&r, passthrough: true)
            #expect(CommandDecoder(authMode: .passthrough).decode(OIFDERequestBody.commandBody(command)) == .success(command))
        }
    }

    @Test func arbitraryBytesAlwaysYieldACommandOrErrors() async {
        await propertyCheck(count: 2000, input: Gen.uint64()) { seed in
            var r = SplitMix64(seed: seed)
            let bytes = Arbitrary.bytes(&r, maxCount: 512)
            switch CommandDecoder().decode(bytes) {
            case .success: break
            case .failure(let failure): #expect(!failure.errors.isEmpty)
            }
        }
    }

    @Test func largeAndDeepInputsNeverCrash() {
        let deep = Array(String(repeating: "[", count: 500_000).utf8)
        guard case .failure(let failure) = CommandDecoder(maxMessageBytes: 1 << 20).decode(deep) else {
            Issue.record("must fail")
            return
        }
        #expect(failure.errors.map(\.code) == [.tooDeep])
        var r = SplitMix64(seed: 42)
        for size in [65_536, 1 << 20] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &r) }
            if case .failure(let f) = CommandDecoder(maxMessageBytes: 1 << 20).decode(bytes) { #expect(!f.errors.isEmpty) }
            let longString = Array(("{\"tenantId\":\"" + String(repeating: "x", count: size - 20) + "\"}").utf8)
            if case .failure(let f) = CommandDecoder(maxMessageBytes: 1 << 20).decode(longString) { #expect(!f.errors.isEmpty) }
        }
    }

    @Test func tokensNeverReachMessagesOrHeaders() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var r = SplitMix64(seed: seed)
            let token = "SECRET-" + Arbitrary.text(&r, length: 16...32, alphabet: Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))
            var command = Arbitrary.validCommand(&r)
            command.authToken = token
            var body = String(decoding: OIFDERequestBody.commandBody(command), as: UTF8.self)
            // Break the body in assorted ways around the token, so each error path sees it.
            switch r.next() % 5 {
            case 0: break
            case 1: body = body.replacingOccurrences(of: "\"authToken\":", with: "\"authToken\" ")
            case 2: body = body.replacingOccurrences(of: "\"workMode\"", with: "\"workMod\"")
            case 3: body = String(body.dropLast(Int(r.next() % 20)))
            default: body = body.replacingOccurrences(of: "\"tenantId\"", with: "\"tenantId\":1,\"x\"")
            }
            let result = CommandDecoder().decode(Array(body.utf8))
            guard case .failure(let failure) = result else {
                Issue.record("a body with authToken must be invalid in token mode")
                return
            }
            for error in failure.errors { #expect(!error.message.contains(token)) }
            let annotation = DeadLetterAnnotation(
                failureClass: .invalid, reason: failure.errors.map(\.message).joined(separator: "; "),
                validationErrors: failure.errors, attempts: 0, deadLetteredAt: Date(), originalExchange: "x", originalRoutingKey: "k"
            )
            for (_, value) in annotation.headers() {
                if case .string(let text) = value { #expect(!text.contains(token)) }
            }
            let event = ResultEvent(
                commandId: "id", status: .invalid, tenantId: failure.tenantId, callId: failure.callId, attempts: 0,
                errors: failure.errors, receivedAt: Date(), completedAt: Date()
            )
            #expect(!String(decoding: event.jsonBytes(), as: UTF8.self).contains(token))
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct UTF8ValidatorTests {
    @Test func agreesWithTheStandardLibrary() async {
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            var r = SplitMix64(seed: seed)
            // Bias toward multi-byte lead and continuation bytes, where the edge cases are.
            let pool: [UInt8] = [0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xA0, 0x9F, 0xED, 0xEF, 0xF0, 0x90, 0x8F, 0xF4, 0xF5, 0xFF]
            let bytes = (0..<Int(r.next() % 12)).map { _ in
                r.next() % 3 == 0 ? UInt8(truncatingIfNeeded: r.next()) : pool[Int(r.next() % UInt64(pool.count))]
            }
            #expect(TextRules.isValidUTF8(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }
}
