import AMQP
import Foundation
import Testing

/// The admin listener of the running daemon: liveness and readiness across start, broker loss and
/// drain; metrics that count a known mix exactly, checked with Prometheus's own parser; and the
/// shipped dashboard and alert rules, which must name only metrics that exist.
@Suite(.timeLimit(.minutes(10))) struct AdminTests {
    /// Samples of a Prometheus text exposition, parsed by the `prometheus_client` Python package:
    /// "name{label=value,...}" → value, labels sorted.
    static func parse(_ exposition: String) async throws -> [String: Double] {
        let path = try Harness.temporaryDirectory() + "/metrics.txt"
        try exposition.write(toFile: path, atomically: true, encoding: .utf8)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    out[f"{sample.name}{{{labels}}}"] = sample.value
            print(json.dumps(out))
            """
        let (status, output) = try await Subprocess.run("/usr/bin/python3", ["-c", script, path], mergeErrors: true)
        guard status == 0, let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double] else {
            throw HarnessError("the exposition did not parse: \(output)")
        }
        return object
    }

    static func command(_ call: String, mode: Int = 1) -> String {
        #"{"tenantId":"t1","callId":"\#(call)","agentId":"a1","workMode":"\#(mode)"}"#
    }

    /// On a private node whose application the test stops: the outage lasts seconds, so readiness
    /// is seen going down however loaded the machine is (a closed connection alone is reopened in
    /// a fraction of a second).
    @Test func liveAndReadyFollowStartBrokerLossAndDrain() async throws {
        let port = Harness.freeBrokerPort()
        _ = try await BrokerRestartTests.script(["fresh"], port: port)
        do {
            let url = try await BrokerRestartTests.script(["url"], port: port)
            try await withGateway(amqpURL: url) { gut in try await Self.healthAcrossLifecycle(gut, port: port, url: url) }
        } catch {
            _ = try? await BrokerRestartTests.script(["stop"], port: port)
            throw error
        }
        _ = try await BrokerRestartTests.script(["stop"], port: port)
    }

    static func healthAcrossLifecycle(_ gut: GatewayUnderTest, port: Int, url: String) async throws {
        #expect(await gut.admin("/health/live").status == 200)
        let ready = await gut.admin("/health/ready")
        #expect(ready.status == 200, "\(ready.body)")
        #expect(ready.body == #"{"status":"ready"}"#)

        // The broker goes away: not ready long before a dead connection's heartbeat timeout (15 s
        // at 5 s heartbeats): the close is seen as it comes, and a loaded machine still makes it.
        let watchFrom = ContinuousClock.now
        let watcher = Task { () -> (at: ContinuousClock.Instant, body: String)? in
            while ContinuousClock.now - watchFrom < .seconds(60), !Task.isCancelled {
                let answer = await gut.admin("/health/ready")
                if answer.status == 503 { return (ContinuousClock.now, answer.body) }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
        _ = try await BrokerRestartTests.script(["ctl", "stop_app"], port: port)
        // The broker has closed every connection when stop_app returns.
        let closeReturned = ContinuousClock.now
        let notReady = await watcher.value
        #expect(notReady != nil, "never reported not ready")
        if let notReady {
            #expect(notReady.at - closeReturned < .seconds(15), "not ready only \(notReady.at - closeReturned) after the broker stopped")
            #expect(notReady.body.contains(#""status":"not ready""#) && notReady.body.contains(#""reason":"#), "\(notReady.body)")
        }
        #expect(await gut.admin("/health/live").status == 200, "live while the broker is away")
        _ = try await BrokerRestartTests.script(["ctl", "start_app"], port: port)
        // And back once it has reconnected by itself.
        var back = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while back != 200, ContinuousClock.now < deadline {
            back = await gut.admin("/health/ready").status
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(back == 200)

        // Draining: not ready (and says so), still live, until the process exits.
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs":3000,"fraction":1.0}"#)
        // The test's own connection went down with the broker: publish on a new one.
        let publisher = try await AMQPConnection.connect(AMQPConfiguration(url: url))
        let channel = try await publisher.openChannel(publisherConfirms: true)
        for n in 0..<5 {
            let properties = MessageProperties(contentType: "application/json", deliveryMode: .persistent, messageId: "drain-\(n)")
            #expect(
                try await channel.publishAndConfirm(
                    Array(Self.command("drain-\(n)").utf8), exchange: gut.commandsExchange, routingKey: "change", properties: properties) == .acked)
        }
        await publisher.close()
        // Commands in flight (OIFDE answers after 3 s), so the drain has something to wait for.
        try await FaultProbeTests.waitFor("commands in flight") {
            (ProtectionTests.gauge("wmg_commands_in_flight", in: await gut.admin("/metrics").body) ?? 0) >= 1
        }
        gut.gateway.signal(SIGTERM)
        var draining: (status: Int, body: String) = (0, "")
        let drainDeadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < drainDeadline {
            draining = await gut.admin("/health/ready")
            if draining.body.contains("draining") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(draining.status == 503)
        #expect(draining.body.contains(#""reason":"draining""#), "\(draining.body)")
        #expect(await gut.admin("/health/live").status == 200)
        #expect(await gut.gateway.waitForExit(timeout: .seconds(15)) == 0)
        #expect(await gut.admin("/health/live").status == 0, "the listener is gone with the process")
    }

    /// An admin listener that cannot bind stops the daemon with the reason. It once cancelled the
    /// pipeline's task instead, whose consumer stream then ended at once on every connection: the
    /// gateway reconnected without end and the broker dead-lettered each command at its
    /// delivery limit.
    @Test func anAdminPortInUseStopsTheGatewayInsteadOfLooping() async throws {
        let port = Harness.freePort(in: 61000...64999)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        let bound = Harness.bindLoopback(listener, port: port)
        try #require(bound && listen(listener, 1) == 0, "the test holds port \(port)")
        try await withGateway(environment: ["WMG_ADMIN_LISTEN": "127.0.0.1:\(port)"], waitUntilConsuming: false) { gut in
            let status = await gut.gateway.waitForExit(timeout: .seconds(30))
            #expect(status == 1, "\(gut.gateway.output.suffix(1500))")
            #expect(gut.gateway.output.contains("Address already in use"))
            let sessions = gut.gateway.output.components(separatedBy: "\"message\":\"consuming\"").count - 1
            #expect(sessions <= 2, "\(sessions) sessions before stopping")
        }
    }

    @Test func metricsCountAKnownMixExactly() async throws {
        try await withGateway { gut in try await Self.knownMix(gut) }
    }

    // A static func: the same body inside the closure crashes this compiler's diagnostics.
    static func knownMix(_ gut: GatewayUnderTest) async throws {
        // 3 succeeded (the first after one token refusal), 2 invalid, 1 rejected, 1 failed after
        // 5 attempts, published one after another so each fault hits the command meant for it.
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"errorCode":"900001","count":1,"target":"changeWorkMode"}"#)
        for n in 0..<3 {
            try await gut.publish(Self.command("m-ok-\(n)"), messageId: "m-ok-\(n)")
            _ = try await gut.nextResults(1)
        }
        for n in 0..<2 {
            try await gut.publish(#"{"tenantId":"t1","callId":"m-bad","workMode":"7"}"#, messageId: "m-bad-\(n)")
            _ = try await gut.nextResults(1)
        }
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"errorCode":"10000002","count":1,"target":"changeWorkMode"}"#)
        try await gut.publish(Self.command("m-rejected"), messageId: "m-rejected")
        _ = try await gut.nextResults(1)
        _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus":503,"count":5,"target":"changeWorkMode"}"#)
        try await gut.publish(Self.command("m-failed"), messageId: "m-failed")
        let failed = try await gut.nextResults(1)
        #expect(failed.first?["status"] as? String == "failed")

        // The result event arrives before the counters move (they move once the command's
        // publishes are confirmed), so scrape until the last command is counted.
        var scrape = await gut.admin("/metrics")
        var samples = try await Self.parse(scrape.body)
        let settled = ContinuousClock.now + .seconds(15)
        while samples["wmg_command_duration_seconds_count{}"] != 7 || samples["wmg_commands_in_flight{}"] != 0, ContinuousClock.now < settled {
            try await Task.sleep(for: .milliseconds(100))
            scrape = await gut.admin("/metrics")
            samples = try await Self.parse(scrape.body)
        }
        #expect(scrape.status == 200)
        let expected: [String: Double] = [
            "wmg_commands_received_total{}": 7,
            "wmg_command_outcomes_total{status=succeeded}": 3,
            "wmg_command_outcomes_total{status=invalid}": 2,
            "wmg_command_outcomes_total{status=rejected}": 1,
            "wmg_command_outcomes_total{status=failed}": 1,
            "wmg_command_outcomes_total{status=expired}": 0,
            "wmg_dead_letters_total{class=invalid}": 2,
            "wmg_dead_letters_total{class=rejected}": 1,
            "wmg_dead_letters_total{class=exhausted}": 1,
            "wmg_dead_letters_total{class=expired}": 0,
            "wmg_oifde_attempts_total{}": 9,
            "wmg_command_retries_total{}": 4,
            "wmg_commands_republished_total{}": 0,
            "wmg_command_duration_seconds_count{}": 7,
            "wmg_oifde_request_duration_seconds_count{outcome=succeeded}": 3,
            "wmg_oifde_request_duration_seconds_count{outcome=rejected}": 1,
            "wmg_oifde_request_duration_seconds_count{outcome=retryable}": 5,
            "wmg_token_fetches_total{result=ok,tenant=t1}": 2,
            "wmg_token_refreshes_total{tenant=t1}": 1,
            "wmg_broker_connected{}": 1,
            "wmg_ready{}": 1,
            "wmg_commands_in_flight{}": 0,
            "wmg_lanes_waiting{}": 0,
            "wmg_broker_reconnects_total{}": 0,
        ]
        for (sample, value) in expected.sorted(by: { $0.key < $1.key }) {
            let actual: Double? = samples[sample]
            #expect(actual == value, "\(sample): \(actual.map { "\($0)" } ?? "absent")")
        }
        // Sampled at the scrape: the process, the journal, the pool, the circuit by state.
        #expect(samples["wmg_circuit_status{state=closed}"] == 1 && samples["wmg_circuit_status{state=open}"] == 0)
        #expect(samples["wmg_circuit_state{}"] == 0)
        #expect((samples["wmg_publish_confirm_seconds_count{}"] ?? 0) >= 7, "every result event is confirmed")
        #expect((samples["wmg_journal_bytes{}"] ?? 0) > 0 && (samples["wmg_journal_records{}"] ?? 0) >= 5)
        let volumeFree = samples["wmg_journal_volume_free_bytes{}"] ?? -1
        #expect(volumeFree > 0 && volumeFree <= (samples["wmg_journal_volume_size_bytes{}"] ?? 0))
        #expect(samples["wmg_oifde_connections{state=in_use}"] == 0, "nothing is in flight")
        #expect((samples["wmg_oifde_connections{state=idle}"] ?? 0) >= 1, "the kept-alive connection")
        #expect(samples["wmg_oifde_connection_waiters{}"] == 0)
        #expect((samples["process_cpu_seconds_total{}"] ?? 0) > 0)
        #expect((samples["process_resident_memory_bytes{}"] ?? 0) > 1_000_000)
        let openDescriptors = samples["process_open_fds{}"] ?? 0
        #expect(openDescriptors > 3 && openDescriptors < (samples["process_max_fds{}"] ?? 0))
        let started = samples["process_start_time_seconds{}"] ?? 0
        #expect(abs(started - Date().timeIntervalSince1970) < 600, "started \(started), now \(Date().timeIntervalSince1970)")
        // Cardinality: no call or message ID ever becomes a label.
        #expect(!scrape.body.contains("m-ok-") && !scrape.body.contains("callId"))
        #expect(!scrape.body.contains(GatewayUnderTest.secret))
    }

    /// Prometheus's own checker: every family of a real scrape has HELP and TYPE and a sound name,
    /// and the alert rules parse.
    @Test func promtoolFindsNothingInTheScrapeOrTheRules() async throws {
        try await withGateway(environment: ["WMG_TOPOLOGY_PARTITIONS": "0"]) { gut in
            try await gut.publish(Self.command("promtool-1"), messageId: "promtool-1")
            _ = try await gut.nextResults(1)
            let path = try Harness.temporaryDirectory() + "/scrape.txt"
            try await gut.admin("/metrics").body.write(toFile: path, atomically: true, encoding: .utf8)
            let metrics = try await Subprocess.run("/bin/sh", ["-c", "promtool check metrics < '\(path)'"], mergeErrors: true)
            #expect(metrics.status == 0 && metrics.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(metrics.output)")
        }
        let rules = try await Subprocess.run(
            "/usr/bin/env", ["promtool", "check", "rules", Harness.packageRoot + "/deploy/observability/alerts.yaml"], mergeErrors: true)
        #expect(rules.status == 0 && rules.output.contains("SUCCESS"), "\(rules.output)")
    }

    @Test func dashboardAndAlertsNameOnlyExportedMetrics() async throws {
        let root = Harness.packageRoot + "/deploy/observability"
        let dashboard = try Data(contentsOf: URL(fileURLWithPath: root + "/grafana-dashboard.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: dashboard) as? [String: Any])
        let panels = try #require(object["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        let alerts = try String(contentsOfFile: root + "/alerts.yaml", encoding: .utf8)
        // What the daemon exports: every family it registers (zero-valued ones included), plus the
        // token families, which appear with their first tenant.
        var exported = Set<String>()
        try await withGateway { gut in
            try await gut.publish(Self.command("dash-1"), messageId: "dash-1")
            _ = try await gut.nextResults(1)
            let samples = try await Self.parse(await gut.admin("/metrics").body)
            exported = Set(samples.keys.map { String($0.prefix { $0 != "{" }) })
        }
        exported.insert("wmg_token_refreshes_total")
        let pattern = try Regex(#"(?:wmg|process)_[a-z_]+"#)
        let used = Set(
            (String(decoding: dashboard, as: UTF8.self).matches(of: pattern) + alerts.matches(of: pattern)).map {
                String($0.output[0].substring ?? "")
            })
        #expect(used.count >= 12)
        for name in used.sorted() {
            #expect(exported.contains(name), "\(name) is used by a dashboard or alert but not exported")
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct BuildInfoTests {
    @Test func versionStartLineAndBuildInfoNameTheSameCommit() async throws {
        let version = try await Subprocess.run(Harness.binary, ["--version"], mergeErrors: true)
        #expect(version.status == 0)
        // `0.2.0 (commit 1a2b3c4d5e6f)`, `-modified` when built from a tree with uncommitted changes.
        let text = version.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasPrefix("0.2.0 (commit ") && text.hasSuffix(")"), "\(text)")
        let commit = String(text.dropFirst("0.2.0 (commit ".count).dropLast())
        let hash = commit.hasSuffix("-modified") ? String(commit.dropLast("-modified".count)) : commit
        #expect(hash.count == 12 && hash.allSatisfy(\.isHexDigit), "\(commit)")
        // A commit of this repository (the build may be older than HEAD).
        let known = try await Subprocess.run("/usr/bin/git", ["-C", Harness.packageRoot, "cat-file", "-e", hash + "^{commit}"])
        #expect(known.status == 0, "\(hash) is not a commit here")
        try await withGateway { gut in
            #expect(gut.gateway.output.contains(#""commit":"\#(commit)""#), "the start line names the commit")
            let metrics = await gut.admin("/metrics").body
            #expect(metrics.contains(#"wmg_build_info{version="0.2.0",revision="\#(commit)"} 1"#), "\(metrics.prefix(400))")
        }
    }
}
