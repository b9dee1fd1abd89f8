import AMQP
import Foundation
import Testing

/// The gateway as a separate process against the real broker and the simulator process: every
/// outcome, with its result event and, where due, its dead letter.
@Suite(.timeLimit(.minutes(10)), .serialized) struct OutcomeTests {
    static let supervision = #"{"tenantId":"t1","callId":"call-1","agentId":"a1","workMode":"2"}"#

    @Test func everyOutcomeHasItsResultAndDeadLetter() async throws {
        try await withGateway(environment: ["WMG_RETRY_MAXATTEMPTS": "3"]) { gut in
            let invalidBody = #"{"tenantId":"t1","callId":"call-2","agentId":"a1","workMode":"9","extra":true}"#
            let rejectedBody = #"{"tenantId":"unknown-tenant","callId":"call-3","agentId":"a1","workMode":"1"}"#
            let expiredBody = #"{"tenantId":"t1","callId":"call-4","agentId":"a1","workMode":"1"}"#
            let staleBody = #"{"tenantId":"t1","callId":"call-5","agentId":"a1","workMode":"1"}"#

            try await gut.publish(Self.supervision, messageId: "ok-1", correlationId: "corr-ok")
            try await gut.publish(invalidBody, messageId: "invalid-1")
            try await gut.publish(rejectedBody, messageId: "rejected-1")
            try await gut.publish(expiredBody, messageId: "expired-header", headers: ["x-deadline": .string("2020-01-01T00:00:00Z")])
            try await gut.publish(staleBody, messageId: "expired-timestamp", timestamp: UInt64(Date().timeIntervalSince1970) - 3600)
            let results = try await gut.nextResults(5)
            let byId = Dictionary(results.map { ($0["commandId"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })

            let ok = try #require(byId["ok-1"])
            #expect(ok["status"] as? String == "succeeded")
            #expect(ok["correlationId"] as? String == "corr-ok")
            #expect(ok["httpStatus"] as? Int == 200)
            #expect(ok["errorCode"] as? String == "0")
            #expect(ok["attempts"] as? Int == 1)
            #expect(ok["workMode"] as? String == "2")

            let invalid = try #require(byId["invalid-1"])
            #expect(invalid["status"] as? String == "invalid")
            #expect(invalid["httpStatus"] == nil)
            let errors = try #require(invalid["errors"] as? [[String: String]])
            #expect(errors.map { $0["pointer"] ?? "" } == ["/extra", "/workMode"])

            #expect(byId["rejected-1"]?["status"] as? String == "rejected")
            #expect(byId["expired-header"]?["status"] as? String == "expired")
            #expect(byId["expired-header"]?["attempts"] as? Int == 0)
            #expect(byId["expired-timestamp"]?["status"] as? String == "expired")

            let letters = try await gut.drainDeadLetters(expecting: 4)
            let lettersById = Dictionary(letters.map { ($0.properties.messageId ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            #expect(Set(lettersById.keys) == ["invalid-1", "rejected-1", "expired-header", "expired-timestamp"])
            let invalidLetter = try #require(lettersById["invalid-1"])
            #expect(invalidLetter.body == Array(invalidBody.utf8))
            #expect(invalidLetter.routingKey == "invalid")
            let headers = try #require(invalidLetter.properties.headers)
            #expect(headers["x-failure-class"]?.stringValue == "invalid")
            #expect(headers["x-failure-reason"]?.stringValue?.isEmpty == false)
            #expect(headers["x-validation-errors"]?.stringValue?.contains("/workMode") == true)
            #expect(headers["x-attempts"]?.intValue == 0)
            #expect(headers["x-original-exchange"]?.stringValue == gut.commandsExchange)
            #expect(headers["x-original-routing-key"]?.stringValue == "change")
            #expect(headers["x-dead-lettered-at"]?.stringValue?.hasSuffix("Z") == true)
            #expect(invalidLetter.properties.contentType == "application/json")
            #expect(lettersById["rejected-1"]?.body == Array(rejectedBody.utf8))
            #expect(lettersById["rejected-1"]?.routingKey == "rejected")
            #expect(lettersById["expired-header"]?.routingKey == "expired")
            #expect(lettersById["expired-header"]?.properties.headers?["x-deadline"]?.stringValue == "2020-01-01T00:00:00Z")
            #expect(try await gut.commandsQueueDepth() == 0)
            // No secret and no issued token (the simulator's start with "sim-") anywhere.
            #expect(!gut.allLogs.contains(GatewayUnderTest.secret))
            #expect(!gut.allLogs.contains("sim-"))
            for letter in letters {
                let text = String(describing: letter.properties) + String(decoding: letter.body, as: UTF8.self)
                #expect(!text.contains("sim-") && !text.contains(GatewayUnderTest.secret))
            }
            let eventText = String(describing: results)
            #expect(!eventText.contains("sim-") && !eventText.contains(GatewayUnderTest.secret))
        }
    }

    @Test func failedAfterMaxAttemptsAndRetriesThatSucceed() async throws {
        try await withGateway(environment: ["WMG_RETRY_MAXATTEMPTS": "3"]) { gut in
            // A token first: on a loaded machine the first gettoken once took past oifde.timeout,
            // and a failed gettoken is an attempt (section 4), which is not what this test counts.
            try await gut.publish(#"{"tenantId":"t1","callId":"warm-up","agentId":"a1","workMode":"1"}"#, messageId: "warm-up")
            #expect(try await gut.nextResults(1, within: 60).first?["status"] as? String == "succeeded")
            // Two 503s, then success: the retry succeeds on the third attempt.
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus":503,"count":2}"#)
            try await gut.publish(Self.supervision, messageId: "retry-ok")
            let first = try await gut.nextResults(1)
            #expect(first.first?["status"] as? String == "succeeded")
            #expect(first.first?["attempts"] as? Int == 3)

            // Failing for good: failed after retry.maxAttempts, dead-lettered as exhausted.
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"errorCode":"10000001","count":100}"#)
            try await gut.publish(#"{"tenantId":"t1","callId":"call-9","agentId":"a1","workMode":"1"}"#, messageId: "exhausted")
            let second = try await gut.nextResults(1)
            #expect(second.first?["status"] as? String == "failed")
            #expect(second.first?["attempts"] as? Int == 3)
            #expect(second.first?["errorCode"] as? String == "10000001")
            let letters = try await gut.drainDeadLetters(expecting: 1)
            #expect(letters.map(\.routingKey) == ["exhausted"])
            #expect(letters.first?.properties.headers?["x-attempts"]?.intValue == 3)
            #expect(letters.first?.properties.headers?["x-failure-error-code"]?.stringValue == "10000001")
        }
    }

    @Test func retryAfterIsHonouredAndTokenErrorsRefreshOnce() async throws {
        try await withGateway { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus":429,"retryAfterSeconds":1,"count":1}"#)
            let started = ContinuousClock.now
            try await gut.publish(Self.supervision, messageId: "retry-after")
            let result = try await gut.nextResults(1)
            #expect(result.first?["status"] as? String == "succeeded")
            #expect(ContinuousClock.now - started >= .milliseconds(950))

            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"errorCode":"900001","count":1}"#)
            try await gut.publish(#"{"tenantId":"t1","callId":"call-1","agentId":"a1","workMode":"1"}"#, messageId: "token-refresh")
            let refreshed = try await gut.nextResults(1)
            #expect(refreshed.first?["status"] as? String == "succeeded")
            #expect(refreshed.first?["attempts"] as? Int == 1)
            let tokenRequests = try await gut.simulator.requests().filter { $0["endpoint"] as? String == "gettoken" }
            #expect(tokenRequests.count == 2)
        }
    }

    @Test func configurationMistakesExit78WithOneLine() async throws {
        let directory = try Harness.temporaryDirectory()
        let cases: [(String, String, [String: String])] = [
            ("amqp:\n  urll: amqp://x\n", "amqp.urll", [:]),
            ("amqp:\n  url: http://nope\n", "amqp.url", [:]),
            ("oifde:\n  auth:\n    tenants:\n      t1: {appSecretFile: /nonexistent/secret}\n", "oifde.auth.tenants.t1.appSecretFile", [:]),
            ("", "retry.maxAttempts", ["WMG_RETRY_MAXATTEMPTS": "zero"]),
            // It fell back to port 9090 once; every bad form is a configuration error.
            ("admin:\n  listen: localhost\n", "admin.listen", [:]), ("", "admin.listen", ["WMG_ADMIN_LISTEN": "127.0.0.1:http"]),
            ("", "admin.listen", ["WMG_ADMIN_LISTEN": "::1:9090"]), ("", "admin.listen", ["WMG_ADMIN_LISTEN": "127.0.0.1:70000"]),
            // Section 12's keys.
            ("breaker:\n  failureRate: 2\n", "breaker.failureRate", [:]), ("", "breaker.minimumRequests", ["WMG_BREAKER_MINIMUMREQUESTS": "0"]),
            ("breaker: {openFor: 10s, maxOpenFor: 5s}\n", "breaker.maxOpenFor", [:]), ("", "pipeline.batchShare", ["WMG_PIPELINE_BATCHSHARE": "1.5"]),
            ("pipeline: {adaptive: true, maxInFlight: 8, minInFlight: 16}\n", "pipeline.minInFlight", [:]),
            ("oifde:\n  auth:\n    tenants:\n      t1: {appSecret: s, rateLimit: fast}\n", "oifde.auth.tenants.t1.rateLimit", [:]),
            ("oifde:\n  auth:\n    tenants:\n      t1: {appSecret: s, burst: 5}\n", "oifde.auth.tenants.t1.burst", [:]),
        ]
        for (index, (yaml, key, environment)) in cases.enumerated() {
            let path = directory + "/bad-\(index).yaml"
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            let child = try ChildProcess(arguments: ["run", "--config", path], environment: environment, outputPath: directory + "/bad-\(index).log")
            let status = await child.waitForExit(timeout: .seconds(20))
            #expect(status == 78, "\(key): \(child.output)")
            let lines = child.output.split(separator: "\n")
            #expect(lines.count == 1, "\(child.output)")
            #expect(child.output.contains(key), "\(child.output)")
        }
    }
}
