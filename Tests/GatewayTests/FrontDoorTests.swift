import Foundation
import Testing

/// The operator's everyday tools with the built executable (docs/contract.md section 14): `config check`
/// with and without `--connect`, `health`, `amqp.passwordFile`, the exit statuses 75 (broker
/// unreachable), 78 (configuration) and 2 (topology drift), and `--version --verbose`.
@Suite(.timeLimit(.minutes(10))) struct FrontDoorTests {
    static func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").first { $0.hasPrefix("{") }.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    /// A loopback port nothing listens on.

    @Test(.timeLimit(.minutes(3))) func configCheckMasksSecretsAndConnectsToEverything() async throws {
        try await withGateway { gut in
            let offline = try await gut.tool(["config", "check"])
            #expect(offline.status == 0, "\(offline.output)")
            #expect(offline.output.contains("amqp.url: amqp://guest:***@127.0.0.1:"), "\(offline.output)")
            #expect(!offline.output.contains("guest:guest") && !offline.output.contains(GatewayUnderTest.secret), "no secret printed")
            #expect(offline.output.hasSuffix("configuration ok\n"), "\(offline.output)")

            let online = try await gut.tool(["config", "check", "--connect"])
            #expect(online.status == 0, "\(online.output)")
            for line in ["broker: ok: amqp://guest:***@", "topology: ok:", "oifde gettoken t1: ok: token issued"] {
                #expect(online.output.contains(line), "\(line) in \(online.output)")
            }
            let answer = Self.json(try await gut.tool(["config", "check", "--connect", "--json"]).output)
            #expect(answer["valid"] as? Bool == true && answer["status"] as? Int == 0, "\(answer)")
            #expect((answer["checks"] as? [[String: Any]])?.count == 3)
            #expect((answer["effective"] as? [String: String])?["amqp.url"]?.contains("***") == true)

            // A tenant whose appSecret OIFDE refuses: the configuration is wrong, exit 78.
            let wrongSecret = ["WMG_OIFDE_AUTH_TENANTS": #"{"t1": {"appSecret": "wrong-secret"}}"#]
            let refused = try await gut.tool(["config", "check", "--connect"], environment: wrongSecret)
            #expect(refused.status == 78, "\(refused.output)")
            #expect(refused.output.contains("oifde gettoken t1: REFUSED"), "\(refused.output)")
        }
    }

    @Test(.timeLimit(.minutes(3))) func anUnreachableBrokerIs75AndDriftIs2() async throws {
        let closed = try Harness.closedPort()
        defer { withExtendedLifetime(closed) {} }
        try await withGateway { gut in
            let away = ["WMG_AMQP_URL": "amqp://guest:guest@127.0.0.1:\(closed.port)/%2f"]
            for arguments in [["config", "check", "--connect"], ["topology", "check"], ["dead-letters", "list"]] {
                let run = try await gut.tool(arguments, environment: away)
                #expect(run.status == 75, "\(arguments): \(run.output)")
                #expect(run.output.contains("cannot connect to the broker"), "\(run.output)")
                #expect(!run.output.contains("guest:guest"))
            }
            let drift = try await gut.tool(["config", "check", "--connect"], environment: ["WMG_TOPOLOGY_DELIVERYLIMIT": "7"])
            #expect(drift.status == 2, "\(drift.output)")
            #expect(drift.output.contains("topology: DIFFERS") && drift.output.contains("x-delivery-limit"), "\(drift.output)")
        }
    }

    @Test(.timeLimit(.minutes(3))) func theBrokerPasswordComesFromAFile() async throws {
        try await withGateway { gut in
            let url = try #require(URL(string: Harness.amqpURL))
            let password = url.password ?? "guest"
            let withoutPassword = Harness.amqpURL.replacingOccurrences(of: ":\(password)@", with: "@")
            let file = gut.directory + "/amqp-password"
            try (password + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let fromFile = try await gut.tool(
                ["config", "check", "--connect"], environment: ["WMG_AMQP_URL": withoutPassword, "WMG_AMQP_PASSWORDFILE": file])
            #expect(fromFile.status == 0, "\(fromFile.output)")
            #expect(fromFile.output.contains("broker: ok"), "\(fromFile.output)")
            // The file wins over a password in the URL (contract section 14).
            let overridden = try await gut.tool(
                ["topology", "check"],
                environment: [
                    "WMG_AMQP_URL": withoutPassword.replacingOccurrences(of: "//guest@", with: "//guest:wrong@"), "WMG_AMQP_PASSWORDFILE": file,
                ])
            #expect(overridden.status == 0, "\(overridden.output)")

            let wrong = gut.directory + "/wrong-password"
            try "not-the-password".write(toFile: wrong, atomically: true, encoding: .utf8)
            let refused = try await gut.tool(["config", "check", "--connect"], environment: ["WMG_AMQP_PASSWORDFILE": wrong])
            #expect(refused.status == 78, "a refused login is the configuration's: \(refused.output)")

            let missing = try await gut.tool(["config", "check"], environment: ["WMG_AMQP_PASSWORDFILE": gut.directory + "/nope"])
            #expect(missing.status == 78, "\(missing.output)")
            let lines = missing.output.split(separator: "\n")
            #expect(
                lines.count == 1 && lines[0].contains("amqp.passwordFile") && lines[0].contains(gut.directory + "/nope does not exist"),
                "\(missing.output)")
            let daemon = try await Subprocess.run(
                Harness.binary, ["run", "--config", gut.configPath], environment: ["WMG_AMQP_PASSWORDFILE": gut.directory + "/nope"],
                mergeErrors: true)
            #expect(daemon.status == 78 && daemon.output.contains("amqp.passwordFile"), "the daemon refuses it the same way: \(daemon.output)")
        }
    }

    @Test(.timeLimit(.minutes(3))) func healthAsksTheRunningGateway() async throws {
        try await withGateway { gut in
            let ready = try await gut.tool(["health"])
            #expect(ready.status == 0 && ready.output.contains(#"ready: {"status":"ready"}"#), "\(ready.output)")
            let json = Self.json(try await gut.tool(["health", "--json"]).output)
            #expect(json["ready"] as? Bool == true, "\(json)")
            await gut.gateway.stop()
            let gone = try await gut.tool(["health", "--timeout", "2s"])
            #expect(gone.status == 1, "\(gone.output)")
            #expect(gone.output.contains("cannot reach the admin listener at 127.0.0.1:\(gut.adminPort)"), "\(gone.output)")
            let invalid = try await gut.tool(["health"], environment: ["WMG_ADMIN_LISTEN": "nonsense"])
            #expect(invalid.status == 1 && invalid.output.contains("admin.listen"), "never a crash or a usage error: \(invalid.output)")
        }
    }

    @Test func anInvalidConfigurationIs78InOneLineOrOneJSONObject() async throws {
        let directory = try Harness.temporaryDirectory()
        let path = directory + "/bad.yaml"
        try "pipeline:\n  maxInFlight: lots\n".write(toFile: path, atomically: true, encoding: .utf8)
        let plain = try await Subprocess.run(Harness.binary, ["config", "check", "--config", path], mergeErrors: true)
        #expect(plain.status == 78)
        #expect(plain.output.split(separator: "\n").count == 1 && plain.output.contains("pipeline.maxInFlight"), "\(plain.output)")
        let json = try await Subprocess.run(Harness.binary, ["config", "check", "--json", "--config", path])
        #expect(json.status == 78)
        let object = Self.json(json.output)
        #expect(object["valid"] as? Bool == false && (object["error"] as? String)?.contains("pipeline.maxInFlight") == true, "\(json.output)")
    }

    @Test func versionVerboseListsTheResolvedPackages() async throws {
        let short = try await Subprocess.run(Harness.binary, ["--version"])
        let verbose = try await Subprocess.run(Harness.binary, ["--version", "--verbose"])
        #expect(verbose.status == 0)
        let first = verbose.output.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first == "workmode-gateway " + short.output.trimmingCharacters(in: .whitespacesAndNewlines), "\(verbose.output)")
        for package in ["swift-nio ", "swift-argument-parser ", "hummingbird "] {
            #expect(verbose.output.contains("\n  " + package), "\(package) in \(verbose.output)")
        }
    }

    /// Settings that expose secrets start with one warning each; the harness's simulator is plain
    /// HTTP in token mode, which is one of them.
    @Test(.timeLimit(.minutes(2))) func settingsThatExposeSecretsAreWarnedAtStart() async throws {
        try await withGateway(environment: ["WMG_AMQP_TLS_VERIFYPEER": "false"]) { gut in
            let warnings = gut.allLogs.split(separator: "\n").filter { $0.contains(#""level":"warning""#) }
            #expect(warnings.filter { $0.contains("oifde.baseURL is http://") }.count == 1, "\(warnings)")
            // Loopback broker over amqp://: no warning for that; verifyPeer off without amqps: none either.
            #expect(!warnings.contains { $0.contains("amqp.url is amqp://") })
            #expect(!warnings.contains { $0.contains(GatewayUnderTest.secret) })
        }
        let directory = try Harness.temporaryDirectory()
        let unpaired = try await Subprocess.run(
            Harness.binary, ["config", "check"], environment: ["WMG_OIFDE_TLS_CERTFILE": directory], mergeErrors: true)
        #expect(unpaired.status == 78 && unpaired.output.contains("oifde.tls.keyFile"), "\(unpaired.output)")
        let version = try await Subprocess.run(
            Harness.binary, ["config", "check"], environment: ["WMG_OIFDE_TLS_MINIMUMVERSION": "1.0"], mergeErrors: true)
        #expect(version.status == 78 && version.output.contains("oifde.tls.minimumVersion"), "\(version.output)")
        // Proxies: a malformed URL is 78 naming the key or variable; a good one shows, masked.
        for (variable, key) in [("WMG_OIFDE_PROXY_URL", "oifde.proxy.url"), ("HTTPS_PROXY", "HTTPS_PROXY")] {
            let bad = try await Subprocess.run(
                Harness.binary, ["config", "check"], environment: [variable: "socks5://proxy:1080"], mergeErrors: true)
            #expect(bad.status == 78 && bad.output.contains(key), "\(bad.output)")
        }
        let secretFile = directory + "/proxy-password"
        try "proxy-pass\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let good = try await Subprocess.run(
            Harness.binary, ["config", "check"],
            environment: [
                "WMG_OIFDE_PROXY_URL": "http://gateway@egress.example:3128", "WMG_OIFDE_PROXY_PASSWORDFILE": secretFile,
                "WMG_OIFDE_PROXY_NOPROXY": ".internal",
            ], mergeErrors: true)
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("oifde.proxy: http://gateway:***@egress.example:3128 from oifde.proxy.url, not for .internal"), "\(good.output)")
        #expect(!good.output.contains("proxy-pass"))
        let inline = try await Subprocess.run(
            Harness.binary, ["config", "check"], environment: ["WMG_OIFDE_PROXY_URL": "http://gateway:inline@egress.example:3128"], mergeErrors: true)
        #expect(inline.status == 78 && inline.output.contains("oifde.proxy.passwordFile") && !inline.output.contains("inline@"), "\(inline.output)")
    }

    /// `--json` on the operator commands: every line of standard output is one JSON object.
    @Test(.timeLimit(.minutes(3))) func operatorCommandsSpeakJSON() async throws {
        try await withGateway { gut in
            func objects(_ output: String) -> [[String: Any]] {
                output.split(separator: "\n").map {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? ["unparsed": String($0)]
                }
            }
            let file = gut.directory + "/mixed.jsonl"
            try (AdminTests.command("json-1") + "\n" + #"{"tenantId":"t1","callId":"bad","agentId":"a1","workMode":"9"}"# + "\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            let validated = try await Subprocess.run(Harness.binary, ["validate", file, "--json", "--config", gut.configPath])
            #expect(validated.status == 65)
            let lines = objects(validated.output)
            #expect(lines.count == 2 && lines[0]["line"] as? Int == 2 && lines[1]["invalid"] as? Int == 1, "\(validated.output)")
            #expect(((lines[0]["errors"] as? [[String: Any]])?.first?["pointer"] as? String) == "/workMode")

            let good = gut.directory + "/good.jsonl"
            try (AdminTests.command("json-2") + "\n").write(toFile: good, atomically: true, encoding: .utf8)
            let published = try await Subprocess.run(
                Harness.binary, ["publish", good, "--live", "--wait-results", "--results-timeout", "30s", "--json", "--config", gut.configPath])
            let summary = objects(published.output)
            #expect(published.status == 0 && summary.count == 1, "\(published.output)")
            #expect(
                summary.first?["published"] as? Int == 1 && (summary.first?["results"] as? [String: Int])?["succeeded"] == 1, "\(published.output)")

            let checked = try await Subprocess.run(Harness.binary, ["topology", "check", "--json", "--config", gut.configPath])
            let entities = objects(checked.output)
            #expect(checked.status == 0 && entities.count > 5 && entities.allSatisfy { $0["unparsed"] == nil }, "\(checked.output)")
            #expect(entities.last?["differing"] as? Int == 0)

            try await DeadLetterStreamTests.writeLetters(gut, count: 2, prefix: "json")
            #expect(try await gut.openDeadLetterCount(expecting: 2) == 2)
            let replayed = try await Subprocess.run(Harness.binary, ["dead-letters", "replay", "--dry-run", "--json", "--config", gut.configPath])
            #expect(replayed.status == 0 && objects(replayed.output).count == 1, "\(replayed.output)")
            #expect(objects(replayed.output).first?["dryRun"] as? Bool == true)
            let purged = try await Subprocess.run(Harness.binary, ["dead-letters", "purge", "--yes", "--json", "--config", gut.configPath])
            #expect(purged.status == 0 && objects(purged.output).first?["deleted"] as? Int == 2, "\(purged.output) \(purged.status)")
            #expect(Set(objects(purged.output).first?["keys"] as? [String] ?? []) == ["json-0", "json-1"])
        }
    }

    /// `--delimiter ;` reads a European spreadsheet's export; a bad delimiter is a usage error.
    @Test func aSemicolonSeparatedExportValidates() async throws {
        let directory = try Harness.temporaryDirectory()
        let path = directory + "/export.csv"
        try "tenantId;callId;agentId;workMode\nt1;\"call;1\";1001;2\nt1;call-2;1001;9\n".write(toFile: path, atomically: true, encoding: .utf8)
        let semicolon = try await Subprocess.run(Harness.binary, ["validate", path, "--delimiter", ";", "--json"])
        let lines = semicolon.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(semicolon.status == 65, "one line is invalid: \(semicolon.output)")
        #expect(lines.first?["line"] as? Int == 3 && lines.last?["valid"] as? Int == 1, "\(semicolon.output)")
        let comma = try await Subprocess.run(Harness.binary, ["validate", path], mergeErrors: true)
        #expect(comma.status != 0, "read with commas, the header is one unknown column: \(comma.output)")
        let bad = try await Subprocess.run(Harness.binary, ["validate", path, "--delimiter", "::"], mergeErrors: true)
        #expect(bad.status == 64 && bad.output.contains("--delimiter"), "\(bad.output)")
    }
}
