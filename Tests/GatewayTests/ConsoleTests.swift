import AMQP
import Foundation
import Testing

/// The dead-letter console's API and access rules (docs/contract.md section 13), against the real
/// broker and the built daemon, over HTTP with curl.
@Suite(.timeLimit(.minutes(10))) struct ConsoleTests {
    static let token = "console-test-token-\(UUID().uuidString.prefix(8))"

    struct Answer {
        let status: Int
        let headers: String
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    /// One request to the admin listener; curl never follows redirects here, so a 303 is seen as one.
    static func http(
        _ gut: GatewayUnderTest, _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil
    ) async throws -> Answer {
        var arguments = ["-s", "-i", "--max-time", "60", "-X", method]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let body { arguments += ["--data-binary", body] }
        arguments.append("http://127.0.0.1:\(gut.adminPort)\(path)")
        let (_, output) = try await Subprocess.run("/usr/bin/curl", arguments)
        // The last header block (curl prints one per response; there is only one without -L).
        let parts = output.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return Answer(status: status, headers: head, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    static var bearer: [String: String] { ["Authorization": "Bearer \(token)"] }
    static func changing(_ gut: GatewayUnderTest) -> [String: String] {
        bearer.merging(["Origin": "http://127.0.0.1:\(gut.adminPort)", "Content-Type": "application/json"]) { $1 }
    }

    /// Rejected commands (OIFDE refuses every change) and invalid ones, one of them holding a
    /// script and an authToken.
    static func makeDeadLetters(_ gut: GatewayUnderTest, rejected: Int) async throws {
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"errorCode":"10000002","fraction":1.0,"target":"changeWorkMode"}"#)
        try await gut.publishAll((0..<rejected).map { (OperatorToolTests.command($0), "rej-\($0)") })
        let invalid = [
            (#"{"tenantId":"t2","callId":"bad-1","agentId":"a1","workMode":"9"}"#, "inv-1"),
            (
                #"{"tenantId":"t2","callId":"bad-2","agentId":"a1","workMode":"1","note":"<script>alert('x')</script>","authToken":"tok-SECRET-123"}"#,
                "inv-script"
            ),
        ]
        try await gut.publishAll(invalid)
        _ = try await gut.nextResults(rejected + invalid.count, within: 60)
        #expect(
            try await gut.openDeadLetterCount(expecting: rejected + invalid.count) == rejected + invalid.count)
    }

    @Test func theAPIFiltersShowsOneMessageMaskedAndNeedsTheToken() async throws {
        try await withGateway(environment: ["WMG_ADMIN_TOKEN": Self.token]) { gut in
            #expect(gut.gateway.output.contains("dead-letter console on /console: admin.token required"), "the start line says which")
            try await Self.makeDeadLetters(gut, rejected: 6)

            #expect(try await Self.http(gut, "GET", "/api/dead-letters").status == 401)
            #expect(try await Self.http(gut, "GET", "/api/dead-letters", headers: ["Authorization": "Bearer wrong-token-0000000"]).status == 401)
            let login = try await Self.http(gut, "GET", "/console")
            #expect(login.status == 303 && login.headers.lowercased().contains("location: /console/login"), "\(login.headers)")
            #expect(try await Self.http(gut, "GET", "/health/live").status == 200, "health stays open")
            #expect(try await Self.http(gut, "GET", "/metrics").status == 200, "metrics stay open")

            let all = try await Self.http(gut, "GET", "/api/dead-letters", headers: Self.bearer)
            #expect(all.status == 200, "\(all.body)")
            #expect(all.json["matched"] as? Int == 8)
            let counts = all.json["counts"] as? [[String: Any]] ?? []
            #expect(counts.first { $0["class"] as? String == "rejected" }?["count"] as? Int == 6, "\(counts)")
            #expect(counts.filter { $0["class"] as? String == "invalid" }.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == 2)

            let rejected = try await Self.http(gut, "GET", "/api/dead-letters?class=rejected&limit=2", headers: Self.bearer)
            #expect(rejected.json["matched"] as? Int == 6)
            #expect((rejected.json["letters"] as? [Any])?.count == 2, "limit shows two, counts cover all")
            #expect(try await Self.http(gut, "GET", "/api/dead-letters?tenant=t2", headers: Self.bearer).json["matched"] as? Int == 2)
            #expect(try await Self.http(gut, "GET", "/api/dead-letters?q=bad-2", headers: Self.bearer).json["matched"] as? Int == 1)
            #expect(try await Self.http(gut, "GET", "/api/dead-letters?since=1h&class=invalid", headers: Self.bearer).json["matched"] as? Int == 2)
            let badClass = try await Self.http(gut, "GET", "/api/dead-letters?class=lost", headers: Self.bearer)
            #expect(badClass.status == 400 && badClass.body.contains("not one of"), "\(badClass.body)")
            #expect(try await Self.http(gut, "GET", "/api/dead-letters?since=yesterday", headers: Self.bearer).status == 400)

            let one = try await Self.http(gut, "GET", "/api/dead-letters/inv-script", headers: Self.bearer)
            #expect(one.status == 200, "\(one.body)")
            let body = one.json["body"] as? String ?? ""
            #expect(body.contains("<script>alert('x')</script>"), "content is data: the page writes it as text")
            #expect(!one.body.contains("tok-SECRET-123") && body.contains(#""authToken":"<masked>""#), "\(body)")
            #expect((one.json["headers"] as? [String: Any])?["x-failure-class"] as? String == "invalid")
            #expect((one.json["properties"] as? [String: String])?["message_id"] == "inv-script")
            #expect(one.headers.lowercased().contains("content-security-policy: default-src 'none'; script-src 'self'"))
            #expect(try await Self.http(gut, "GET", "/api/dead-letters/nope", headers: Self.bearer).status == 404)

            // Requests at the same moment (a count refresh while a message is opened) each see the
            // whole queue: a read holds what it read until it ends, so overlapping reads missed letters.
            let overlapping = try await withThrowingTaskGroup(of: (String, Answer).self) { group in
                for index in 0..<12 {
                    let path = index.isMultiple(of: 2) ? "/api/dead-letters?limit=0" : "/api/dead-letters/rej-\(index % 6)"
                    group.addTask { (path, try await Self.http(gut, "GET", path, headers: Self.bearer)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (path, answer) in overlapping {
                #expect(answer.status == 200, "\(path): \(answer.body)")
                if path.hasSuffix("limit=0") { #expect(answer.json["matched"] as? Int == 8, "\(path): \(answer.body)") }
            }
            // Browsing changed nothing.
            #expect(try await gut.openDeadLetterCount(expecting: 8) == 8)
        }
    }

    @Test func replayAndPurgeActOnTheSelectionOnlyAndNeedASameOriginPost() async throws {
        try await withGateway(environment: ["WMG_ADMIN_TOKEN": Self.token]) { gut in
            try await Self.makeDeadLetters(gut, rejected: 6)
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            let selection = #"{"ids":["rej-0","rej-1","rej-2"]}"#

            let noOrigin = try await Self.http(gut, "POST", "/api/dead-letters/replay", headers: Self.bearer, body: selection)
            #expect(noOrigin.status == 403, "\(noOrigin.body)")
            var foreign = Self.changing(gut)
            foreign["Origin"] = "http://evil.example"
            #expect(try await Self.http(gut, "POST", "/api/dead-letters/replay", headers: foreign, body: selection).status == 403)
            var anonymous = Self.changing(gut)
            anonymous["Authorization"] = nil
            #expect(try await Self.http(gut, "POST", "/api/dead-letters/purge", headers: anonymous, body: selection).status == 401)
            let empty = try await Self.http(gut, "POST", "/api/dead-letters/purge", headers: Self.changing(gut), body: #"{"ids":[]}"#)
            #expect(empty.status == 400, "an empty selection is not everything")
            #expect(try await gut.openDeadLetterCount(expecting: 8) == 8, "nothing refused changed anything")

            let replayed = try await Self.http(gut, "POST", "/api/dead-letters/replay", headers: Self.changing(gut), body: selection)
            #expect(replayed.status == 200, "\(replayed.body)")
            #expect(replayed.json["replayed"] as? Int == 3)
            #expect(Set(replayed.json["replayedIds"] as? [String] ?? []) == ["rej-0", "rej-1", "rej-2"])
            let results = try await gut.nextResults(3, within: 60)
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" }, "replayed commands come back and succeed")
            #expect(Set(results.compactMap { $0["commandId"] as? String }) == ["rej-0", "rej-1", "rej-2"])
            #expect(try await gut.openDeadLetterCount(expecting: 5) == 5)

            let capped = try await Self.http(
                gut, "POST", "/api/dead-letters/replay", headers: Self.changing(gut), body: #"{"ids":["rej-3"],"maxRedrives":0}"#)
            #expect(capped.json["refused"] as? Int == 1 && capped.json["replayed"] as? Int == 0, "\(capped.body)")
            #expect(capped.json["refusedIds"] as? [String] == ["rej-3"])

            let purged = try await Self.http(
                gut, "POST", "/api/dead-letters/purge", headers: Self.changing(gut), body: #"{"ids":["rej-4","inv-1","gone"]}"#)
            #expect(purged.json["deleted"] as? Int == 2, "\(purged.body)")
            #expect(purged.json["notFound"] as? [String] == ["gone"])
            #expect(try await gut.openDeadLetterCount(expecting: 3) == 3, "only the selection went")
            let left = try await Self.http(gut, "GET", "/api/dead-letters", headers: Self.bearer)
            #expect(Set((left.json["letters"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }) == ["rej-3", "rej-5", "inv-script"])

            let metrics = try await Self.http(gut, "GET", "/metrics")
            #expect(metrics.body.contains(#"wmg_console_actions_total{action="replay"} 2"#), "\(metrics.body.prefix(200))")
            #expect(metrics.body.contains(#"wmg_console_actions_total{action="purge"} 1"#))
        }
    }

    @Test func theLoginFormSetsAStrictHttpOnlyCookie() async throws {
        try await withGateway(environment: ["WMG_ADMIN_TOKEN": Self.token]) { gut in
            let origin = ["Origin": "http://127.0.0.1:\(gut.adminPort)", "Content-Type": "application/x-www-form-urlencoded"]
            let wrong = try await Self.http(gut, "POST", "/console/login", headers: origin, body: "token=not-the-token")
            #expect(wrong.status == 401 && !wrong.headers.lowercased().contains("set-cookie"))
            let crossSite = try await Self.http(
                gut, "POST", "/console/login", headers: origin.merging(["Origin": "http://evil.example"]) { $1 }, body: "token=\(Self.token)")
            #expect(crossSite.status == 403)
            let right = try await Self.http(gut, "POST", "/console/login", headers: origin, body: "token=\(Self.token)")
            #expect(right.status == 303, "\(right.headers)")
            let cookieLine = right.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
            #expect(cookieLine.contains("HttpOnly") && cookieLine.contains("SameSite=Strict"), "\(cookieLine)")
            let session = cookieLine.dropFirst("set-cookie: ".count).split(separator: ";").first.map(String.init) ?? ""
            #expect(try await Self.http(gut, "GET", "/console", headers: ["Cookie": session]).status == 200)
            #expect(try await Self.http(gut, "GET", "/api/dead-letters", headers: ["Cookie": session]).status == 200)
            _ = try await Self.http(gut, "POST", "/console/logout", headers: ["Cookie": session, "Origin": origin["Origin"] ?? ""])
            #expect(try await Self.http(gut, "GET", "/api/dead-letters", headers: ["Cookie": session]).status == 401, "logged out")
        }
    }

    @Test func withoutATokenTheConsoleIsOnlyServedOnLoopback() async throws {
        try await withGateway { gut async throws in
            #expect(gut.gateway.output.contains("reachable from this machine only"), "the start line says which")
            #expect(try await Self.http(gut, "GET", "/console").status == 200)
            #expect(try await Self.http(gut, "GET", "/api/dead-letters").status == 200)
        }
        try await withGateway(environment: ["WMG_ADMIN_LISTEN": "0.0.0.0:\(Harness.freePort(in: 61000...64999))"]) { gut in
            #expect(gut.gateway.output.contains("dead-letter console off"), "\(gut.gateway.output.prefix(2000))")
        }
    }
}
