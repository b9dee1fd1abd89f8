import Testing
import WorkModeDomain

@Suite(.timeLimit(.minutes(10))) struct FlatJSONObjectTests {
    func parse(_ text: String) -> FlatJSONObject? { FlatJSONObject(parsing: Array(text.utf8)) }

    @Test func readsGettokenAndChangeWorkModeAnswers() throws {
        let token = try #require(parse(#"{"errorCode":0,"errorMsg":"success","authToken":"abc","expireTime":3600}"#))
        #expect(token.text("errorCode") == "0")
        #expect(token.string("authToken") == "abc")
        #expect(token.integer("expireTime") == 3600)
        let change = try #require(parse(#" {"errorCode":"900001","errorMsg":"token \"expired\""} "#))
        #expect(change.text("errorCode") == "900001")
        #expect(change.string("errorMsg") == #"token "expired""#)
        #expect(change.string("errorCode") == "900001")
        #expect(token.string("errorCode") == nil, "a number is not a string")
    }

    @Test func keepsNumbersAsWrittenAndMarksNesting() throws {
        let object = try #require(parse(#"{"big":12345678901234567890,"n":null,"b":true,"o":{"x":1},"a":[1]}"#))
        #expect(object["big"] == .number("12345678901234567890"))
        #expect(object.integer("big") == nil, "too large for Int, so not silently wrapped")
        #expect(object["n"] == .null)
        #expect(object["b"] == .bool(true))
        #expect(object["o"] == .nested)
        #expect(object["a"] == .nested)
        #expect(object["missing"] == nil)
    }

    @Test func refusesWhatIsNotOneObject() {
        #expect(parse("[1,2]") == nil)
        #expect(parse(#""text""#) == nil)
        #expect(parse(#"{"a":1"#) == nil)
        #expect(parse("<html>502 Bad Gateway</html>") == nil)
        #expect(parse(#"{"a":1,"a":2}"#) == nil, "duplicate keys are refused")
        #expect(parse("") == nil)
    }
}
