import AMQP
import Foundation
import Testing

/// OpenTelemetry traces over OTLP/HTTP, received by a small Python receiver that decodes the
/// protobuf with opentelemetry-proto: one span per command under the command's own `traceparent`,
/// with children for validation, each OIFDE attempt (and the HTTP client's request span under it),
/// and the publishes; and a collector that never answers costs the pipeline nothing but the spans.
@Suite(.timeLimit(.minutes(10))) struct TracingTests {
    @Test func aRetriedCommandIsOneSpanTreeUnderItsTraceparent() async throws {
        let directory = try Harness.temporaryDirectory()
        // Outside the ephemeral range (32768-60999): an outgoing connection may hold a port inside it.
        let port = Harness.freePort(in: 61000...64999)
        let spansPath = directory + "/spans.jsonl"
        let receiver = try ChildProcess(
            executable: "/usr/bin/env", arguments: ["python3", Harness.packageRoot + "/Tests/Scripts/otlp_receiver.py", String(port), spansPath],
            outputPath: directory + "/receiver.log")
        defer { receiver.signal(SIGKILL) }
        try #require(await receiver.waitForOutput("listening on"), "\(receiver.output)")
        let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
        let parentSpanId = "00f067aa0ba902b7"
        let environment = ["WMG_TRACING_OTLP_ENDPOINT": "http://127.0.0.1:\(port)/v1/traces"]
        try await withGateway(environment: environment) { gut in
            // The first attempt fails, the second succeeds.
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus":503,"count":1}"#)
            try await gut.publish(
                #"{"tenantId":"t1","callId":"traced","agentId":"a1","workMode":"2"}"#, messageId: "traced-1",
                headers: ["traceparent": .string("00-\(traceId)-\(parentSpanId)-01")])
            let result = try #require(try await gut.nextResults(1).first)
            #expect(result["attempts"] as? Int == 2)

            var spans: [[String: Any]] = []
            let end = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < end {
                let text = (try? String(contentsOfFile: spansPath, encoding: .utf8)) ?? ""
                spans = text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                if spans.contains(where: { $0["name"] as? String == "workmode.publish" }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let command = try #require(spans.first { $0["name"] as? String == "workmode.command" }, "\(spans)")
            #expect(command["traceId"] as? String == traceId, "the command's own trace")
            #expect(command["parentSpanId"] as? String == parentSpanId, "under the publisher's span")
            #expect(command["service"] as? String == "workmode-gateway")
            let attributes = try #require(command["attributes"] as? [String: Any])
            #expect(attributes["workmode.status"] as? String == "succeeded")
            #expect((attributes["workmode.attempts"] as? Int ?? (attributes["workmode.attempts"] as? String).flatMap(Int.init)) == 2)
            #expect(attributes["workmode.tenant"] as? String == "t1")
            #expect(attributes["workmode.call"] as? String == "traced")
            #expect(attributes["workmode.in_doubt"] as? Bool == false)
            let commandSpanId = try #require(command["spanId"] as? String)
            let children = spans.filter { $0["parentSpanId"] as? String == commandSpanId }
            let names = children.compactMap { $0["name"] as? String }.sorted()
            #expect(names == ["workmode.oifde.attempt", "workmode.oifde.attempt", "workmode.publish", "workmode.validate"], "\(names)")
            // The HTTP client's request spans hang under the attempts.
            let attemptIds = Set(children.filter { $0["name"] as? String == "workmode.oifde.attempt" }.compactMap { $0["spanId"] as? String })
            let httpSpans = spans.filter { attemptIds.contains($0["parentSpanId"] as? String ?? "") }
            #expect(httpSpans.count >= 2, "\(spans.map { $0["name"] ?? "" })")
            #expect(spans.allSatisfy { $0["traceId"] as? String == traceId })
            // OIFDE sees the trace continued: the request's traceparent is in the same trace.
            // (The simulator records the traceparent of the requests it answered, not of injected faults.)
            let answered = try await gut.simulator.requests().filter {
                $0["endpoint"] as? String == "changeWorkMode" && $0["errorCode"] as? String == "0"
            }
            #expect(answered.count == 1)
            #expect(answered.allSatisfy { ($0["traceparent"] as? String)?.contains(traceId) == true }, "\(answered)")
            #expect(
                answered.allSatisfy { ($0["traceparent"] as? String)?.contains(parentSpanId) == false },
                "a span of the gateway's, not the publisher's")
            // No secret reaches a span.
            let everything = (try? String(contentsOfFile: spansPath, encoding: .utf8)) ?? ""
            #expect(!everything.contains(GatewayUnderTest.secret) && !everything.contains("sim-"))
        }
    }

    /// A collector that accepts connections, reads, and never answers: every command still ends
    /// `succeeded`, and the spans the exporter gives up on are counted by reason
    /// (`wmg_trace_spans_dropped_total`): its queue (1,024 spans) fills within the first second,
    /// and each export (up to 256 spans) fails after its 5 s timeout.
    @Test func aCollectorThatNeverAnswersCostsOnlySpansAndTheyAreCounted() async throws {
        let directory = try Harness.temporaryDirectory()
        let collector = try ChildProcess(
            executable: "/usr/bin/env", arguments: ["python3", "-c", Self.silentCollector], outputPath: directory + "/collector.log")
        defer { collector.signal(SIGKILL) }
        try #require(await collector.waitForOutput("listening on"), "\(collector.output)")
        let port = try #require(collector.output.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        let environment = ["WMG_TRACING_OTLP_ENDPOINT": "http://127.0.0.1:\(port)/v1/traces"]
        try await withGateway(environment: environment) { gut in
            // About 5 spans per command: 600 commands fill the queue several times over.
            let total = 600
            try await gut.publishAll(
                (0..<total).map { (#"{"tenantId":"t1","callId":"silent-\#($0)","agentId":"a1","workMode":"2"}"#, "silent-\($0)") })
            let results = try await gut.nextResults(total, within: 120)
            #expect(results.count == total)
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" }, "\(Set(results.map { $0["status"] as? String ?? "?" }))")
            func dropped(_ reason: String, in scrape: String) -> Double {
                scrape.split(separator: "\n").first { $0.hasPrefix("wmg_trace_spans_dropped_total{reason=\"\(reason)\"}") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            }
            var scrape = ""
            let counted = ContinuousClock.now + .seconds(30)
            repeat {
                scrape = await gut.admin("/metrics").body
                if dropped("queue_full", in: scrape) > 0, dropped("export_failed", in: scrape) > 0 { break }
                try await Task.sleep(for: .milliseconds(250))
            } while ContinuousClock.now < counted
            #expect(dropped("queue_full", in: scrape) > 0, "\(scrape.split(separator: "\n").filter { $0.contains("trace") })")
            #expect(dropped("export_failed", in: scrape) > 0, "\(scrape.split(separator: "\n").filter { $0.contains("trace") })")
        }
    }

    /// Accepts every connection and reads what it is sent, never answering.
    static let silentCollector = """
        import socket, threading
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        print("listening on", listener.getsockname()[1], flush=True)
        held = []
        def read(connection):
            while connection.recv(65536):
                pass
        while True:
            connection, _ = listener.accept()
            held.append(connection)
            threading.Thread(target=read, args=(connection,), daemon=True).start()
        """
}
