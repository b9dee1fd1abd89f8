import Foundation
import GatewayConfig
import Hummingbird
import HummingbirdCore
import PropertyBased
import Testing
import WorkModeDomain

@testable import DeadLetterConsole
@testable import Operations

/// Every parser that reads outside input (durations, RFC 3339 times, sizes and counts in the
/// configuration, the console's query strings and bodies, `--since`), fed random and hostile text:
/// none crashes, each either gives a value inside its documented range or a precise one-line error.
@Suite(.timeLimit(.minutes(10))) struct OutsideInputFuzzTests {
    /// Pieces that make parsers work hard: digits, signs, units, exponents, huge numbers, NaN and
    /// infinity spellings, separators, percent escapes, non-ASCII, control characters.
    static let pieces = [
        "0", "1", "7", "9", "99999999999999", "18446744073709551616", "-", "+", ".", "e", "E308", "e-9", "ms", "s", "m", "h", "d", "nan",
        "inf", "infinity", "0x1p3", " ", "\t", "\n", "T", "Z", ":", "+08:00", "-00:00", "2026-12-07", "T10:00:00", ".123", ",", "&", "=",
        "%", "%2f", "%zz", "%00", "漢", "é", "\u{0}", "\u{7f}", "\"", "{", "}", "[", "]", "ids", "limit", "since", "class", "q",
    ]

    /// SplitMix64: a seed gives the same text on every machine, so a failure names its input.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func text(_ seed: UInt64) -> String {
        var r = SplitMix(state: seed)
        return (0..<Int.random(in: 0...8, using: &r)).map { _ in pieces.randomElement(using: &r) ?? "" }.joined()
    }

    @Test func durationsAreInRangeOrRefused() async {
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            let input = Self.text(seed)
            guard let duration = DurationText.parse(input) else { return }
            #expect(duration >= .zero && duration.timeInterval <= DurationText.maximumSeconds, "\(input.debugDescription) → \(duration)")
            // What is printed back parses to the same duration.
            #expect(DurationText.parse(DurationText.format(duration)) == duration, "\(input.debugDescription)")
        }
    }

    @Test func rfc3339TimesRoundTripOrAreRefused() async {
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            var r = SplitMix(state: seed)
            // Half from pieces, half valid times with one character changed.
            var input = Self.text(seed)
            if Bool.random(using: &r) {
                var valid = Array(RFC3339.format(Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800, using: &r))))
                let at = Int.random(in: 0..<valid.count, using: &r)
                valid[at] = Array("0123456789-:TZ.+ x").randomElement(using: &r) ?? "x"
                input = String(valid)
            }
            guard let date = RFC3339.parse(input) else { return }
            #expect(RFC3339.parse(RFC3339.format(date)).map { abs($0.timeIntervalSince(date)) < 0.001 } == true, "\(input.debugDescription)")
        }
    }

    @Test func configurationValuesAreInRangeOrOneLineNamingTheKey() async {
        let keys = [
            ("WMG_TOPOLOGY_DEADLETTERMAXBYTES", "topology.deadLetterMaxBytes"), ("WMG_TOPOLOGY_DEADLETTERRETENTION", "topology.deadLetterRetention"),
            ("WMG_PIPELINE_MAXINFLIGHT", "pipeline.maxInFlight"), ("WMG_RETRY_DEADLINE", "retry.deadline"), ("WMG_AMQP_PREFETCH", "amqp.prefetch"),
            ("WMG_PIPELINE_BATCHSHARE", "pipeline.batchShare"), ("WMG_ADMIN_LISTEN", "admin.listen"), ("WMG_REPLICAS_ORDINAL", "replicas.ordinal"),
            ("WMG_TOPOLOGY_DEADLETTERWATCHINTERVAL", "topology.deadLetterWatchInterval"),
        ]
        await propertyCheck(count: 2000, input: Gen.uint64()) { seed in
            var r = SplitMix(state: seed)
            let (variable, key) = keys.randomElement(using: &r) ?? keys[0]
            let value = Self.text(seed)
            do {
                let configuration = try ConfigurationLoader(environment: [variable: value]).load(path: nil)
                #expect(configuration.topology.deadLetterMaxBytes >= 1_000_000)
                #expect(configuration.topology.deadLetterRetention >= .seconds(60))
                #expect(configuration.pipeline.maxInFlight >= 1 && configuration.amqp.prefetch >= 1)
            } catch {
                let line = "\(error)"
                #expect(!line.contains("\n"), "one line: \(line.debugDescription)")
                #expect(line.contains(key) || line.contains(variable), "\(variable)=\(value.debugDescription): \(line)")
            }
        }
    }

    @Test func consoleQueriesGiveAFilterOrA400Message() async {
        let names = ["class", "tenant", "since", "q", "limit"]
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            var r = SplitMix(state: seed)
            let query = (0..<Int.random(in: 0...4, using: &r)).map { n in
                (names.randomElement(using: &r) ?? "q") + "=" + Self.text(seed &+ UInt64(n))
            }.joined(separator: "&")
            let parameters = URI("/api/dead-letters?" + query).queryParameters
            do {
                _ = try ConsoleFilter.parse(parameters)
                let limit = try ConsoleFilter.limit(parameters, maximum: DeadLetterConsole.maximumLimit)
                #expect(limit >= 0 && limit <= DeadLetterConsole.maximumLimit)
            } catch {
                let line = "\(error)"
                #expect(error is ConsoleRequestError && !line.isEmpty && !line.contains("\n"), "\(query.debugDescription): \(line)")
            }
        }
        // The two the issue names: a since too far back for any clock, and a limit past Int.
        #expect(throws: ConsoleRequestError.self) { try ConsoleFilter.parse(URI("/a?since=99999999999999h").queryParameters) }
        #expect(throws: ConsoleRequestError.self) {
            try ConsoleFilter.limit(URI("/a?limit=99999999999999999999999").queryParameters, maximum: 10)
        }
    }

    @Test func selectionsAndFormsNeverCrash() async {
        await propertyCheck(count: 3000, input: Gen.uint64()) { seed in
            let body = Self.text(seed)
            if let selection = try? ConsoleSelection.parse(body) {
                #expect(!selection.ids.isEmpty && (selection.maxRedrives ?? 0) >= 0)
            }
            _ = FormBody.parse(body)
            if let since = try? DeadLetterFilter.parseSince(body) { #expect(since.timeIntervalSince1970.isFinite) }
        }
    }
}
