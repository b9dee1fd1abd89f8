import Foundation
import PropertyBased
import Testing

@testable import WorkModeDomain

/// The hand-written JSON writer's strings: whatever the text (quotes, backslashes, control
/// characters, multi-byte UTF-8, bridged or native storage), a standard parser reads back the
/// same text.
@Suite(.timeLimit(.minutes(10))) struct JSONWriterTests {
    static let alphabet: [Character] = Array("ab\"\\/\n\r\t\u{0}\u{1}\u{1F}\u{7F} é漢😀{}:,")

    @Test func anyStringRoundTripsThroughAStandardParser() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var random = SplitMix64(seed: seed)
            let text = Arbitrary.text(&random, length: 0...40, alphabet: Self.alphabet)
            // A Substring-made String is native; an NSString-bridged one may not be contiguous.
            for candidate in [text, String(NSString(string: text))] {
                var writer = JSONWriter()
                writer.beginObject()
                writer.member("k", candidate)
                writer.endObject()
                let parsed = try? JSONSerialization.jsonObject(with: Data(writer.bytes))
                #expect((parsed as? [String: Any])?["k"] as? String == candidate, "\(Array(writer.bytes))")
            }
        }
    }

    @Test func escapesAreTheShortForms() {
        var writer = JSONWriter()
        writer.string("a\"b\\c\nd\u{1}")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #""a\"b\\c\nd\u0001""#)
    }
}
