import Testing
import WorkModeDomain

@testable import Operations

@Suite(.timeLimit(.minutes(10))) struct BatchRecordTests {
    func text(_ record: BatchRecord) -> String { String(decoding: record.body, as: UTF8.self) }

    @Test func aJSONLineKeepsItsBytesUnlessItNamesAMessageId() {
        let plain = #"{ "tenantId" : "t1", "workMode": 1 }"#
        let record = BatchRecord.jsonLine(Array(plain.utf8), line: 3)
        #expect(text(record) == plain, "byte for byte")
        #expect(record.messageId == nil)
        #expect(record.line == 3)

        let named = BatchRecord.jsonLine(Array(#"{"messageId":"m-1","tenantId":"t1","n":[1,{"a":null}],"b":true,"x":1.50}"#.utf8), line: 1)
        #expect(named.messageId == "m-1")
        #expect(text(named) == #"{"tenantId":"t1","n":[1,{"a":null}],"b":true,"x":1.50}"#, "the rest as written, numbers included")
    }

    @Test func aBrokenJSONLineIsPassedOnForValidationToName() {
        let broken = Array(#"{"messageId":"m-1","tenantId":"#.utf8)
        let record = BatchRecord.jsonLine(broken, line: 9)
        #expect(record.body == broken)
        #expect(record.messageId == nil)
        guard case .failure(let failure) = CommandDecoder().decode(record.body) else {
            Issue.record("a broken line must fail validation")
            return
        }
        #expect(failure.errors.first?.code == .malformedJSON)
    }

    @Test func aCSVRowBecomesACommandWithItsTransferNested() {
        let header = [
            "messageId", "tenantId", "callId", "agentId", "workMode", "callTransferRequest.callTransferType", "callTransferRouteValue", "empty",
        ]
        let record = BatchRecord.csvRow(header: header, fields: ["m-7", "t1", "c1", "a1", "3", "5", "+86138", ""], line: 4)
        #expect(record.messageId == "m-7")
        #expect(
            text(record)
                == #"{"tenantId":"t1","callId":"c1","agentId":"a1","workMode":"3","callTransferRequest":{"callTransferType":"5","callTransferRouteValue":"+86138"}}"#
        )
        if case .failure(let failure) = CommandDecoder().decode(record.body) { Issue.record("valid row refused: \(failure.errors)") }
    }

    @Test func anUnknownCSVColumnIsKeptSoValidationNamesIt() {
        let record = BatchRecord.csvRow(
            header: ["tenantId", "callId", "agentId", "workMode", "agentID"], fields: ["t1", "c1", "a1", "1", "typo"], line: 2)
        guard case .failure(let failure) = CommandDecoder().decode(record.body) else {
            Issue.record("an unknown column must not be dropped silently")
            return
        }
        #expect(failure.errors.contains { $0.pointer == "/agentID" })
    }

    @Test func csvFieldsFollowRFC4180() {
        #expect(CSVRecord.fields(Array("a,b,,c".utf8)) == ["a", "b", "", "c"])
        #expect(CSVRecord.fields(Array(#""x, y","say ""hi""",z"#.utf8)) == ["x, y", #"say "hi""#, "z"])
        #expect(CSVRecord.fields(Array("a,b\r".utf8)) == ["a", "b"], "CRLF line ending")
        #expect(CSVRecord.fields(Array("\"line\nbreak\",2".utf8)) == ["line\nbreak", "2"])
        #expect(CSVRecord.fields(Array(#""open"#.utf8)) == nil, "a quote that never closes")
        #expect(CSVRecord.fields(Array(#""a"b,c"#.utf8)) == nil, "text after a closing quote")
        #expect(CSVRecord.isOpen(Array(#"a,"b"#.utf8)))
        #expect(!CSVRecord.isOpen(Array(#"a,"b""c""#.utf8)))
    }
}
