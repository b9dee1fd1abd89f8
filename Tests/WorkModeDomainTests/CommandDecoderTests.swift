import Foundation
import Testing

@testable import WorkModeDomain

/// One row per rule of docs/contract.md section 3: the body, and the (pointer, code) pairs expected;
/// an empty list means valid.
struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    let body: String
    let expected: [(String, ValidationError.Code)]
    var testDescription: String { name }
}

let transfer = #""tenantId":"t1","callId":"123456789012345678","agentId":"a1","workMode":"3""#

let cases: [Case] = [
    // shape
    Case(name: "valid supervision", body: #"{"tenantId":"t1","callId":"c1","agentId":"a1","workMode":"1"}"#, expected: []),
    Case(name: "not an object", body: #"["tenantId"]"#, expected: [("", .notAnObject)]),
    Case(name: "malformed", body: #"{"tenantId":"t1","#, expected: [("", .malformedJSON)]),
    Case(name: "too deep", body: #"{"a":[[[[[[[[1]]]]]]]]}"#, expected: [("/a/0/0/0/0/0/0/0", .tooDeep)]),
    Case(
        name: "depth 8 is fine for the parser", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":1,"x":[[[[[[1]]]]]]}"#,
        expected: [("/x", .unknownField)]),
    Case(name: "duplicate field", body: #"{"tenantId":"t1","tenantId":"t2"}"#, expected: [("/tenantId", .duplicateField)]),
    // identifiers
    Case(name: "missing ids", body: #"{"workMode":"1"}"#, expected: [("/tenantId", .required), ("/callId", .required), ("/agentId", .required)]),
    Case(name: "empty id", body: #"{"tenantId":"","callId":"c","agentId":"a","workMode":"1"}"#, expected: [("/tenantId", .empty)]),
    Case(name: "id wrong type", body: #"{"tenantId":7,"callId":"c","agentId":"a","workMode":"1"}"#, expected: [("/tenantId", .wrongType)]),
    Case(
        name: "id 64 chars ok", body: #"{"tenantId":"\#(String(repeating: "é", count: 64))","callId":"c","agentId":"a","workMode":"1"}"#, expected: []
    ),
    Case(
        name: "id 65 chars", body: #"{"tenantId":"t","callId":"\#(String(repeating: "9", count: 65))","agentId":"a","workMode":"1"}"#,
        expected: [("/callId", .tooLong)]),
    Case(
        name: "control char", body: #"{"tenantId":"t","callId":"c","agentId":"a\u0007","workMode":"1"}"#, expected: [("/agentId", .controlCharacter)]),
    // workMode
    Case(name: "workMode integer", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":2}"#, expected: []),
    Case(name: "workMode 4", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":"4"}"#, expected: [("/workMode", .notAllowed)]),
    Case(name: "workMode 1.0", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":1.0}"#, expected: [("/workMode", .notAllowed)]),
    Case(name: "workMode bool", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":true}"#, expected: [("/workMode", .wrongType)]),
    Case(name: "workMode missing", body: #"{"tenantId":"t","callId":"c","agentId":"a"}"#, expected: [("/workMode", .required)]),
    // callTransferRequest presence
    Case(name: "transfer without request", body: "{\(transfer)}", expected: [("/callTransferRequest", .required)]),
    Case(
        name: "request without transfer",
        body:
            #"{"tenantId":"t","callId":"c","agentId":"a","workMode":"1","callTransferRequest":{"callTransferType":"4","callTransferRouteValue":"a9"}}"#,
        expected: [("/callTransferRequest", .unexpected)]),
    Case(
        name: "request null for non-transfer", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":"0","callTransferRequest":null}"#,
        expected: []),
    Case(name: "request not an object", body: "{\(transfer),\"callTransferRequest\":\"4\"}", expected: [("/callTransferRequest", .wrongType)]),
    // callTransferType
    Case(
        name: "type 4 integer", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":4,\"callTransferRouteValue\":\"a9\"}}", expected: []
    ),
    Case(
        name: "type 9", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"9\",\"callTransferRouteValue\":\"x\"}}",
        expected: [("/callTransferRequest/callTransferType", .notAllowed)]),
    Case(
        name: "type missing", body: "{\(transfer),\"callTransferRequest\":{\"callTransferRouteValue\":\"x\"}}",
        expected: [("/callTransferRequest/callTransferType", .required)]),
    Case(
        name: "type array", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":[1],\"callTransferRouteValue\":\"x\"}}",
        expected: [("/callTransferRequest/callTransferType", .wrongType)]),
    // route values
    Case(
        name: "route value missing", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"1\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .required)]),
    Case(
        name: "route value empty", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"3\",\"callTransferRouteValue\":\"\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .empty)]),
    Case(
        name: "route value 257",
        body:
            "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"3\",\"callTransferRouteValue\":\"\(String(repeating: "q", count: 257))\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .tooLong)]),
    Case(name: "type 7 no value", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"7\"}}", expected: []),
    Case(
        name: "type 31 empty value", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"31\",\"callTransferRouteValue\":\"\"}}",
        expected: []),
    Case(
        name: "type 7 with value", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"7\",\"callTransferRouteValue\":\"a1\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .unexpected)]),
    Case(
        name: "type 5 phone",
        body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"+8613800138000\"}}", expected: []),
    Case(
        name: "type 5 not phone", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"call-me\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .invalidPhoneNumber)]),
    Case(
        name: "type 5 33 digits",
        body:
            "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"\(String(repeating: "1", count: 33))\"}}",
        expected: [("/callTransferRequest/callTransferRouteValue", .invalidPhoneNumber)]),
    Case(
        name: "calling number ok",
        body:
            "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"100\",\"callTransferNumber\":\"+4930\"}}",
        expected: []),
    Case(
        name: "calling number bad",
        body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"100\",\"callTransferNumber\":\"12a\"}}",
        expected: [("/callTransferRequest/callTransferNumber", .invalidPhoneNumber)]),
    Case(
        name: "calling number empty ok",
        body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"5\",\"callTransferRouteValue\":\"100\",\"callTransferNumber\":\"\"}}",
        expected: []),
    Case(
        name: "trans data 4096 ok",
        body:
            "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"2\",\"callTransferRouteValue\":\"77\",\"callTransferTransData\":\"\(String(repeating: "d", count: 4096))\"}}",
        expected: []),
    Case(
        name: "trans data 4097",
        body:
            "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"2\",\"callTransferRouteValue\":\"77\",\"callTransferTransData\":\"\(String(repeating: "d", count: 4097))\"}}",
        expected: [("/callTransferRequest/callTransferTransData", .tooLong)]),
    // unknown fields and tokens
    Case(
        name: "unknown top-level", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":"1","agentID":"typo"}"#,
        expected: [("/agentID", .unknownField)]),
    Case(
        name: "unknown nested", body: "{\(transfer),\"callTransferRequest\":{\"callTransferType\":\"4\",\"callTransferRoutValue\":\"a9\"}}",
        expected: [("/callTransferRequest/callTransferRoutValue", .unknownField), ("/callTransferRequest/callTransferRouteValue", .required)]),
    Case(
        name: "auth token in token mode", body: #"{"tenantId":"t","callId":"c","agentId":"a","workMode":"1","authToken":"secret-token-value"}"#,
        expected: [("/authToken", .forbidden)]),
    // every problem at once
    Case(
        name: "all problems reported", body: #"{"tenantId":"","callId":5,"workMode":"7","extra":1}"#,
        expected: [("/extra", .unknownField), ("/tenantId", .empty), ("/callId", .wrongType), ("/agentId", .required), ("/workMode", .notAllowed)]),
]

@Suite(.timeLimit(.minutes(10))) struct CommandDecoderTests {
    let decoder = CommandDecoder()

    @Test(arguments: cases)
    func rule(_ c: Case) {
        switch decoder.decode(Array(c.body.utf8)) {
        case .success:
            #expect(c.expected.isEmpty, "expected \(c.expected), got a valid command")
        case .failure(let failure):
            let got = failure.errors.map { "\($0.pointer) \($0.code)" }
            #expect(got == c.expected.map { "\($0.0) \($0.1)" }, "\(failure.errors)")
            #expect(failure.errors.allSatisfy { !$0.message.isEmpty })
        }
    }

    @Test func theDocumentationsOwnExampleIsMalformedAndTheErrorPointsAtIt() {
        // As printed in the OIFDE docs: the colon after "callTransferRequest" is missing.
        let documented = """
            {
              "tenantId": "202204247563",
              "callId": "1656315126-1234567",
              "agentId": "1001",
              "workMode": "3",
              "callTransferRequest" {
                "callTransferType": "1",
                "callTransferRouteValue": "12345"
              }
            }
            """
        guard case .failure(let failure) = decoder.decode(Array(documented.utf8)) else {
            Issue.record("the documented example must not decode")
            return
        }
        #expect(failure.errors.count == 1)
        #expect(failure.errors.first?.pointer == "/callTransferRequest")
        #expect(failure.errors.first?.code == .malformedJSON)
        #expect(failure.errors.first?.message.contains("expected ':' after member name \"callTransferRequest\"") == true)
        // With the colon, it is a valid transfer.
        let fixed = documented.replacingOccurrences(of: "\"callTransferRequest\" {", with: "\"callTransferRequest\": {")
        guard case .success(let command) = decoder.decode(Array(fixed.utf8)) else {
            Issue.record("the corrected example must decode")
            return
        }
        #expect(command.workMode == .transfer)
        #expect(command.callTransferRequest == CallTransferRequest(type: .skillQueueByRouteCode, routeValue: "12345"))
    }

    @Test func sizeAndEncodingAreCheckedFirst() {
        let small = CommandDecoder(maxMessageBytes: 10)
        guard case .failure(let tooLarge) = small.decode(Array(repeating: 0x20, count: 11)) else {
            Issue.record("too large")
            return
        }
        #expect(tooLarge.errors.map(\.code) == [.tooLarge])
        guard case .failure(let badUTF8) = decoder.decode([0x7B, 0xFF, 0x7D]) else {
            Issue.record("bad utf8")
            return
        }
        #expect(badUTF8.errors.map(\.code) == [.invalidUTF8])
    }

    @Test func passthroughModeRequiresAndKeepsTheToken() {
        let passthrough = CommandDecoder(authMode: .passthrough)
        let body = Array(#"{"tenantId":"t","callId":"c","agentId":"a","workMode":"1","authToken":"tok-123"}"#.utf8)
        guard case .success(let command) = passthrough.decode(body) else {
            Issue.record("must decode")
            return
        }
        #expect(command.authToken == "tok-123")
        #expect(!command.description.contains("tok-123"))
        guard case .failure(let missing) = passthrough.decode(Array(#"{"tenantId":"t","callId":"c","agentId":"a","workMode":"1"}"#.utf8))
        else {
            Issue.record("must require a token")
            return
        }
        #expect(missing.errors.map(\.pointer) == ["/authToken"])
    }

    @Test func invalidCommandsKeepWhatIdentifiesTheCall() {
        guard case .failure(let failure) = decoder.decode(Array(#"{"tenantId":"t9","callId":"c9","agentId":"a9","workMode":"8"}"#.utf8))
        else {
            Issue.record("must fail")
            return
        }
        #expect(failure.tenantId == "t9")
        #expect(failure.callId == "c9")
        #expect(failure.agentId == "a9")
        #expect(failure.workMode == "8")
    }

    @Test func escapesAndUnicodeDecode() {
        let body = Array(#"{"tenantId":"t\u00e9\"q","callId":"c\ud83d\ude00","agentId":"a\/b","workMode":"0"}"#.utf8)
        guard case .success(let command) = decoder.decode(body) else {
            Issue.record("must decode")
            return
        }
        #expect(command.tenantId == "té\"q")
        #expect(command.callId == "c😀")
        #expect(command.agentId == "a/b")
    }
}
