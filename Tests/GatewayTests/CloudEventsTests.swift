import AMQP
import Foundation
import Testing

/// `results.format: cloudevents`: each result event is a CloudEvents 1.0 event in structured mode,
/// read back with the CloudEvents SDK for Python; its `data` is the native event and matches the
/// result-event schema.
@Suite(.timeLimit(.minutes(10))) struct CloudEventsTests {
    @Test func resultEventsAreStructuredCloudEventsTheSDKReads() async throws {
        try await withGateway(environment: ["WMG_RESULTS_FORMAT": "cloudevents", "WMG_RESULTS_SOURCE": "/tests/gateway-1"]) { gut in
            try await gut.publish(#"{"tenantId":"t1","callId":"ce-1","agentId":"a1","workMode":"2"}"#, messageId: "ce-ok")
            try await gut.publish(#"{"tenantId":"t1","callId":"ce-2","agentId":"a1","workMode":"9"}"#, messageId: "ce-bad")
            _ = try await gut.nextResults(2)
            let deliveries = gut.seenResults
            try #require(deliveries.count == 2)
            for delivery in deliveries {
                #expect(delivery.properties.contentType == "application/cloudevents+json")
                #expect(delivery.properties.headers?["cloudEvents:specversion"]?.stringValue == "1.0")
                #expect(delivery.properties.headers?["cloudEvents:source"]?.stringValue == "/tests/gateway-1")
            }
            let path = gut.directory + "/cloudevents.jsonl"
            _ = FileManager.default.createFile(atPath: path, contents: Data(deliveries.map { $0.body + [0x0A] }.joined()))
            let parsed = try await Subprocess.run(
                "/usr/bin/env",
                [
                    "python3", Harness.packageRoot + "/Tests/Scripts/parse_cloudevents.py",
                    Harness.packageRoot + "/docs/schemas/result-event.schema.json", path,
                ],
                mergeErrors: true)
            #expect(parsed.status == 0, "\(parsed.output)")
            let events = parsed.output.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            try #require(events.count == 2, "\(parsed.output)")
            let byStatus = Dictionary(events.map { ($0["status"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            let ok = try #require(byStatus["succeeded"]?["attributes"] as? [String: String])
            #expect(ok["type"] == "com.workmode-gateway.result.succeeded")
            #expect(ok["id"] == "ce-ok")
            #expect(ok["subject"] == "t1/ce-1")
            #expect(ok["source"] == "/tests/gateway-1")
            #expect(ok["datacontenttype"] == "application/json")
            #expect(ok["time"]?.hasSuffix("Z") == true)
            #expect(byStatus["invalid"]?["attributes"].flatMap { ($0 as? [String: String])?["type"] } == "com.workmode-gateway.result.invalid")
            for event in events { #expect((event["dataErrors"] as? [String])?.isEmpty == true, "\(event)") }

            // `publish --wait-results` reads the status inside the envelope.
            let file = gut.directory + "/one.jsonl"
            try #"{"tenantId":"t1","callId":"ce-3","agentId":"a1","workMode":"2"}"#.appending("\n").write(
                toFile: file, atomically: true, encoding: .utf8)
            let waited = try await gut.tool(["publish", file, "--wait-results", "--results-timeout", "60s"])
            #expect(waited.status == 0, "\(waited.output)")
            #expect(waited.output.contains("results: 1 succeeded"), "\(waited.output)")
        }
    }
}
