import Foundation
import Testing

@testable import WorkModeDomain

/// `docs/schemas/command.schema.json` against the gateway's own validation: every rule a schema
/// can express gives the same verdict (valid or not) on the decoder's table of cases and on
/// random commands and mutations of them, checked with Python's `jsonschema` (draft 2020-12)
/// through `deploy/schemas/validate.py`, the script publishers can run too.
@Suite(.timeLimit(.minutes(10))) struct SchemaAgreementTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// What a schema cannot say; the gateway checks these itself (docs/schemas/README.md).
    static let beyondASchema: Set<ValidationError.Code> = [.malformedJSON, .tooDeep, .duplicateField, .tooLarge, .invalidUTF8, .notAnObject]

    /// Verdicts of the schema for each body, in order.
    static func schemaVerdicts(_ bodies: [String]) throws -> [String] {
        let directory = NSTemporaryDirectory() + "wmg-schema-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/bodies.jsonl"
        try (bodies.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [root + "/deploy/schemas/validate.py", root + "/docs/schemas/command.schema.json", input]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func mutations(_ r: inout SplitMix64) -> [String] {
        var bodies: [String] = []
        let modes = ["\"0\"", "\"3\"", "\"4\"", "\"03\"", "\" 1\"", "2", "3", "-1", "null", "true", "\"\"", "\"1a\""]
        let types = ["\"1\"", "\"5\"", "\"7\"", "\"31\"", "\"9\"", "33", "7", "\"030\"", "null", "\"\"", "[1]"]
        let routes = [
            "\"q1\"", "\"\"", "null", "\"+8613800000000\"", "\"12a\"", "\"" + String(repeating: "r", count: 257) + "\"", "\"a\\u0001b\"", "5",
            "\"+\"",
        ]
        let numbers = ["\"\"", "\"+861380\"", "\"abc\"", "null", "\"" + String(repeating: "1", count: 33) + "\""]
        for _ in 0..<300 {
            let mode = modes.randomElement(using: &r) ?? "\"1\""
            var fields = [#""tenantId":"t1""#, #""callId":"c1""#, #""agentId":"a1""#, "\"workMode\":\(mode)"]
            if Bool.random(using: &r) {
                var transfer: [String] = []
                if Int.random(in: 0..<10, using: &r) > 0 { transfer.append("\"callTransferType\":\(types.randomElement(using: &r) ?? "1")") }
                if Bool.random(using: &r) { transfer.append("\"callTransferRouteValue\":\(routes.randomElement(using: &r) ?? "\"x\"")") }
                if Int.random(in: 0..<4, using: &r) == 0 { transfer.append("\"callTransferNumber\":\(numbers.randomElement(using: &r) ?? "\"\"")") }
                if Int.random(in: 0..<8, using: &r) == 0 { transfer.append(#""unknown":1"#) }
                fields.append(
                    Int.random(in: 0..<10, using: &r) == 0
                        ? #""callTransferRequest":null"# : "\"callTransferRequest\":{\(transfer.joined(separator: ","))}")
            }
            if Int.random(in: 0..<10, using: &r) == 0 { fields.remove(at: Int.random(in: 0..<3, using: &r)) }
            if Int.random(in: 0..<15, using: &r) == 0 { fields.append(#""typo":"x""#) }
            bodies.append("{" + fields.joined(separator: ",") + "}")
        }
        return bodies
    }

    @Test func theSchemaAndTheGatewayAgreeOnEveryRuleASchemaCanSay() throws {
        var r = SplitMix64(seed: 2026)
        var bodies: [String] = []
        for row in cases where !row.body.contains("\n") && !row.expected.contains(where: { Self.beyondASchema.contains($0.1) }) {
            bodies.append(row.body)
        }
        for _ in 0..<200 { bodies.append(String(decoding: OIFDERequestBody.commandBody(Arbitrary.validCommand(&r)), as: UTF8.self)) }
        bodies += Self.mutations(&r)
        let verdicts = try Self.schemaVerdicts(bodies)
        try #require(verdicts.count == bodies.count, "the script answered \(verdicts.count) lines for \(bodies.count)")
        var disagreements: [String] = []
        for (body, verdict) in zip(bodies, verdicts) {
            let decoded = CommandDecoder().decode(Array(body.utf8))
            if case .failure(let failure) = decoded, failure.errors.allSatisfy({ Self.beyondASchema.contains($0.code) }) { continue }
            // A number written with a fraction or exponent is a known difference: the schema's
            // "integer" accepts 1.0, the gateway wants 1.
            if body.range(of: #":\s*-?[0-9]+[.eE]"#, options: .regularExpression) != nil { continue }
            let gatewayValid: Bool
            if case .success = decoded { gatewayValid = true } else { gatewayValid = false }
            if gatewayValid != (verdict == "valid") {
                disagreements.append("\(body) → gateway \(gatewayValid ? "valid" : "invalid"), schema \(verdict)")
            }
        }
        let report = "\(disagreements.count) of \(bodies.count):\n" + disagreements.prefix(10).joined(separator: "\n")
        #expect(disagreements.isEmpty, "\(report)")
        #expect(bodies.count > 500)
    }
}

/// `docs/asyncapi.yaml` loads as an AsyncAPI 3.0 document (the `asyncapi3` object model from PyPI),
/// its schema files are valid, and every message example matches its schemas.
@Suite(.timeLimit(.minutes(10))) struct AsyncAPIDocumentTests {
    @Test func theDocumentParsesAndItsExamplesMatchTheSchemas() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", SchemaAgreementTests.root + "/Tests/Scripts/check_asyncapi.py", SchemaAgreementTests.root + "/docs/asyncapi.yaml",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("asyncapi 3.0 document: ok"), "\(text)")
        #expect(text.split(separator: "\n").filter { $0.hasSuffix(": ok") }.count >= 7, "\(text)")
    }
}
