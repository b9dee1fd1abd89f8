import AMQP
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// docs/contract.md section 12 from outside: the built gateway, a real broker and the simulator with
/// its outage, capacity and per-tenant counts. One at a time: several of them load the machine,
/// and their timings are what they check.
@Suite(.timeLimit(.minutes(10)), .serialized) struct ProtectionTests {
    static func body(tenant: String = "t1", call: String) -> String {
        #"{"tenantId":"\#(tenant)","callId":"\#(call)","agentId":"a1","workMode":"1"}"#
    }

    static func commands(_ count: Int, tenant: String = "t1", prefix: String) -> [(body: String, messageId: String)] {
        (0..<count).map { (body(tenant: tenant, call: "\(prefix)-\($0)"), "\(prefix)-\($0)") }
    }

    /// A gauge's value in the gateway's `/metrics`.
    static func gauge(_ name: String, in metrics: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    static func stats(_ gut: GatewayUnderTest) async throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: try await gut.simulator.control("GET", "/simulator/stats")) as? [String: Any]) ?? [:]
    }

    /// The issue's outage: 300 commands, OIFDE answering 503 until the circuit has opened and
    /// probed twice, 3 attempts, a 90 s deadline. All succeed after it, and OIFDE sees
    /// at most `minimumRequests` plus one probe per open period while down.
    @Test func anOutageEndsWithEveryCommandSucceedingAndFewRequestsWhileDown() async throws {
        // When the circuit closes, the waiting commands go to OIFDE together. On a CI machine
        // busy with the rest of the suite the simulator once took over 2 s to answer that wave,
        // and timeouts used up 11 commands' attempts: a 10 s timeout and 64 slots keep this test
        // about the breaker, not about the machine.
        let environment = [
            "WMG_RETRY_MAXATTEMPTS": "3", "WMG_RETRY_DEADLINE": "90s", "WMG_OIFDE_TIMEOUT": "10s", "WMG_PIPELINE_MAXINFLIGHT": "64",
            // Each failed attempt's log line, for the failure message below: a loaded CI run once
            // ended one command `failed` after three 503s, and its log said nothing of them.
            "WMG_LOG_LEVEL": "debug",
        ]
        try await withGateway(environment: environment) { gut in
            // OIFDE stays down until the gateway has shown what it does about it (open, ready and
            // saying so, probing twice), then comes back: a fixed 15 s outage once ended before a
            // loaded machine had published the 300 commands, and the circuit never opened.
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus": 503}"#)
            try await gut.publishAll(Self.commands(300, prefix: "outage"))
            // While it is down: the circuit is open, the gateway still ready, and says so.
            var sawOpen = false
            let openBy = ContinuousClock.now + .seconds(30)
            while !sawOpen, ContinuousClock.now < openBy {
                try await Task.sleep(for: .milliseconds(100))
                let metrics = await gut.admin("/metrics").body
                sawOpen = Self.gauge("wmg_circuit_state", in: metrics) == 2
            }
            #expect(sawOpen, "wmg_circuit_state reached 2 (open)")
            // Read until it says so: open, half-open for the probe and open again alternate while
            // OIFDE is down, and a loaded CI machine once read readiness during a probe.
            var ready = await gut.admin("/health/ready")
            let said = ContinuousClock.now + .seconds(10)
            while !(ready.status == 200 && ready.body.contains(#""oifde":"circuit open""#)), ContinuousClock.now < said {
                try await Task.sleep(for: .milliseconds(100))
                ready = await gut.admin("/health/ready")
            }
            #expect(ready.status == 200 && ready.body.contains(#""oifde":"circuit open""#), "\(ready)")
            let probedBy = ContinuousClock.now + .seconds(30)
            while gut.allLogs.components(separatedBy: "circuit to OIFDE half-open").count - 1 < 2, ContinuousClock.now < probedBy {
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            let results = try await gut.nextResults(300, within: 80)
            let statuses = Dictionary(grouping: results, by: { $0["status"] as? String ?? "?" }).mapValues(\.count)
            let notSucceeded = results.filter { $0["status"] as? String != "succeeded" }.prefix(2).map { $0["reason"] as? String ?? "" }
            let theirLines = results.filter { $0["status"] as? String != "succeeded" }.prefix(2).flatMap { result in
                let id = #""commandId":"\#(result["commandId"] as? String ?? "?")""#
                return gut.allLogs.split(separator: "\n").filter { $0.contains(id) || $0.contains("circuit to OIFDE") }
            }
            #expect(statuses == ["succeeded": 300], "\(statuses): \(notSucceeded)\n\(theirLines.joined(separator: "\n"))")
            let requests = try await gut.simulator.requests()
            let whileDown = requests.filter { ($0["endpoint"] as? String) == "changeWorkMode" && ($0["errorCode"] as? String) == "10000001" }
            let logs = gut.allLogs
            let probes = logs.components(separatedBy: "circuit to OIFDE half-open").count - 1
            #expect(probes >= 2, "probed more than once in 15 s")
            #expect(whileDown.count <= 20 + probes, "OIFDE saw \(whileDown.count) requests while down; \(probes) probes")
            #expect(logs.contains("circuit to OIFDE opened") && logs.contains("circuit to OIFDE closed"))
            #expect(Self.gauge("wmg_circuit_state", in: await gut.admin("/metrics").body) == 0)
        }
    }

    /// Issue 27's flapping OIFDE: 503 for 2 s, fine for 2 s, for 30 s, while commands arrive at
    /// 25/s with 3 attempts and a 90 s deadline. Before, a command spent its three attempts inside
    /// one 2 s down phase (the backoff starts at 200 ms) while the breaker's 10 s window, filled by
    /// the up phases' successes, never reached half failures. Now failures in a row open it, a
    /// failure the gateway already knew of uses up no attempt, and the ramp after each probe
    /// reopens it quickly: every command succeeds, and OIFDE sees a bounded number of requests.
    @Test func aFlappingOIFDEEndsWithEveryCommandSucceeding() async throws {
        // The issue's backoff (the defaults, from 200 ms), not the harness's fast 50 ms one: with
        // that, a command's three attempts fit in 130 ms and once all fell before any other
        // command's failure could show the outage.
        let environment = [
            "WMG_RETRY_MAXATTEMPTS": "3", "WMG_RETRY_DEADLINE": "90s", "WMG_OIFDE_TIMEOUT": "10s", "WMG_RETRY_INITIALBACKOFF": "200ms",
            "WMG_RETRY_MAXBACKOFF": "5s",
        ]
        try await withGateway(environment: environment) { gut in
            let commands = Self.commands(550, prefix: "flap")
            // Two seconds of normal traffic first: the gateway has seen OIFDE work before it flaps.
            let started = ContinuousClock.now
            var faultSet = false
            for (index, batch) in stride(from: 0, to: commands.count, by: 5).enumerated() {
                // The arrival rate is the scenario's shape, not a wait for something to happen.
                try await Task.sleep(until: started + .milliseconds(200 * index))
                if !faultSet, ContinuousClock.now - started >= .seconds(2) {
                    _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"flapSeconds": 2, "outageSeconds": 30}"#)
                    faultSet = true
                }
                try await gut.publishAll(Array(commands[batch..<min(batch + 5, commands.count)]))
            }
            let results = try await gut.nextResults(commands.count, within: 120)
            let statuses = Dictionary(grouping: results, by: { $0["status"] as? String ?? "?" }).mapValues(\.count)
            let notSucceeded = results.filter { $0["status"] as? String != "succeeded" }.prefix(2).map { $0["reason"] as? String ?? "" }
            #expect(statuses == ["succeeded": commands.count], "\(statuses): \(notSucceeded)")
            let requests = try await gut.simulator.requests().filter { ($0["endpoint"] as? String) == "changeWorkMode" }
            let whileDown = requests.filter { ($0["errorCode"] as? String) == "10000001" }.count
            let logs = gut.allLogs
            let openings = logs.components(separatedBy: "circuit to OIFDE opened").count - 1
            #expect(openings >= 3, "the breaker opened in down phases: \(openings)")
            // Each opening: at most minimumRequests failures in a row, what was out then, the probe.
            #expect(whileDown <= openings * 40, "OIFDE saw \(whileDown) requests while down, \(requests.count) in all; \(openings) openings")
            print("flapping OIFDE: \(commands.count) commands, \(requests.count) requests, \(whileDown) while down, \(openings) openings")
        }
    }

    /// A deadline that passes while the breaker is open ends the command `expired`, saying so;
    /// never `failed` for attempts it was not allowed to make.
    @Test func deadlinesDuringAnOpenCircuitEndExpiredNeverFailed() async throws {
        try await withGateway(environment: ["WMG_RETRY_MAXATTEMPTS": "3", "WMG_RETRY_DEADLINE": "5s"]) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"outageSeconds": 60}"#)
            try await gut.publishAll(Self.commands(60, prefix: "deadline"))
            let results = try await gut.nextResults(60, within: 30)
            let statuses = Set(results.map { $0["status"] as? String ?? "?" })
            #expect(statuses == ["expired"], "\(statuses)")
            let circuit = results.filter { ($0["reason"] as? String)?.contains("while the circuit to OIFDE was open") == true }
            #expect(circuit.count >= 40, "\(circuit.count) of 60 name the open circuit; e.g. \(results.first?["reason"] ?? "")")
            let dead = try await gut.drainDeadLetters(expecting: 60)
            #expect(dead.allSatisfy { $0.properties.headers?["x-failure-class"]?.stringValue == "expired" })
        }
    }

    /// AIMD against an OIFDE that takes 16 requests at once (100 ms each, so the load on this
    /// machine stays light): the limit settles near 16 and few requests are turned away once it has.
    @Test func theAdaptiveLimitSettlesNearOIFDEsCapacity() async throws {
        let capacity = 16.0
        try await withGateway(environment: ["WMG_PIPELINE_ADAPTIVE": "true", "WMG_PIPELINE_MININFLIGHT": "2", "WMG_RETRY_DEADLINE": "5m"]) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"maxConcurrent": 16, "latencyMs": 100}"#)
            try await gut.publishAll(Self.commands(2500, prefix: "aimd"))
            // Settled once the limit has grown past OIFDE's capacity, been turned back, and stayed
            // near it for three readings in a row; a loaded machine only takes longer to get there.
            var nearInARow = 0
            try await FaultProbeTests.waitFor("the limit to settle at OIFDE's capacity", timeout: .seconds(90)) {
                guard (try await Self.stats(gut)["tooMany"] as? Int ?? 0) >= 3,
                    let limit = Self.gauge("wmg_concurrency_limit", in: await gut.admin("/metrics").body)
                else { return false }
                nearInARow = abs(limit - capacity) <= capacity * 0.25 ? nearInARow + 1 : 0
                return nearInARow >= 3
            }
            _ = try await gut.simulator.control("DELETE", "/simulator/requests")
            var samples: [Double] = []
            for _ in 0..<40 {
                try await Task.sleep(for: .milliseconds(150))
                if let limit = Self.gauge("wmg_concurrency_limit", in: await gut.admin("/metrics").body) { samples.append(limit) }
            }
            let stats = try await Self.stats(gut)
            let requests = ((stats["tenants"] as? [String: Any])?["t1"] as? [String: Any])?["requests"] as? Int ?? 0
            let tooMany = stats["tooMany"] as? Int ?? 0
            let mean = samples.reduce(0, +) / Double(max(1, samples.count))
            print(
                "adaptive limit against capacity \(Int(capacity)): mean \(mean), samples \(samples.map { Int($0) }); 429s \(tooMany) of \(requests)")
            #expect(abs(mean - capacity) <= capacity * 0.25, "mean limit \(mean)")
            // AIMD probes above capacity by design, and a loaded machine's latency noise makes it
            // probe more (17 of 807 once in CI, 2.1%): under 5% still tells it from a fixed limit,
            // with which most requests past OIFDE's 16 at once would be turned away.
            #expect(requests > 500 && Double(tooMany) < Double(requests) * 0.05, "\(tooMany) of \(requests) answered 429")
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            _ = try await gut.nextResults(2500, within: 120)
        }
    }

    /// Rate limit 20/s for one tenant: its 100 commands span at least 4.5 s at OIFDE, while
    /// another tenant's 100, published at the same time, finish seconds before them.
    @Test func aRateLimitedTenantDoesNotSlowAnother() async throws {
        try await withGateway(tenants: ["t1": 20, "t2": 0]) { gut in
            let slow = Self.commands(100, tenant: "t1", prefix: "slow")
            let fast = Self.commands(100, tenant: "t2", prefix: "fast")
            let started = ContinuousClock.now
            try await gut.publishAll(zip(slow, fast).flatMap { [$0, $1] })
            var fastDone: Duration?
            var slowDone: Duration?
            for _ in 0..<200 {
                let result = try await gut.nextResults(1, within: 30)
                if result.first?["tenantId"] as? String == "t2" { fastDone = ContinuousClock.now - started }
                if result.first?["tenantId"] as? String == "t1" { slowDone = ContinuousClock.now - started }
            }
            let stats = try await Self.stats(gut)
            let tenants = stats["tenants"] as? [String: [String: Any]] ?? [:]
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let first = (tenants["t1"]?["first"] as? String).flatMap(parser.date(from:))
            let last = (tenants["t1"]?["last"] as? String).flatMap(parser.date(from:))
            let span = (last ?? .distantPast).timeIntervalSince(first ?? .distantFuture)
            #expect(span >= 4.5, "t1's 100 requests spanned \(span) s at OIFDE")
            // Measured against t1 in the same run: had t2 queued behind t1's rate, its last result
            // would come with t1's last, not seconds before it.
            let gap = (slowDone ?? .zero) - (fastDone ?? .seconds(99))
            #expect(gap >= .milliseconds(1500), "t2's last result after \(String(describing: fastDone)), t1's after \(String(describing: slowDone))")
        }
    }

    /// A batch command's dead letter goes back to the batch queue when replayed, a live one's to
    /// the live queue: replay uses the routing key the command came with.
    @Test func aReplayReturnsEachCommandToTheQueueItCameFrom() async throws {
        try await withGateway { gut in
            let rejected = Self.body(tenant: "no-such-tenant", call: "replay-batch")
            try await gut.publishAll([(rejected, "replay-batch")], routingKey: "batch")
            try await gut.publishAll([(Self.body(tenant: "no-such-tenant", call: "replay-live"), "replay-live")], routingKey: "change")
            let results = try await gut.nextResults(2)
            #expect(Set(results.map { $0["status"] as? String ?? "?" }) == ["rejected"], "\(results)")
            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(20)) == 0)
            let replay = try await gut.tool(["dead-letters", "replay"])
            #expect(replay.status == 0, "\(replay.output)")
            let batch = try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).compactMap(\.properties.messageId)
            let live = try await OperatorToolTests.takeAll(gut.prefix + ".commands", gut).compactMap(\.properties.messageId)
            #expect(batch == ["replay-batch"] && live == ["replay-live"], "batch \(batch), live \(live)")
        }
    }

    /// `publish` sends a file to the batch queue; `--live` to the live one.
    @Test func publishSendsFilesToTheBatchQueueUnlessLive() async throws {
        try await withGateway { gut in
            gut.gateway.signal(SIGTERM)
            // Once failed in a loaded clean-clone run with the log ending at "stopped": the status
            // (or "still running") and the output's end say which next time.
            let status = await gut.gateway.waitForExit(timeout: .seconds(20))
            #expect(status == 0, "exit status \(status.map { String($0) } ?? "none: still running"): \(gut.gateway.output.suffix(1200))")
            let file = gut.directory + "/three.jsonl"
            let lines = (0..<3).map { #"{"messageId":"route-\#($0)","tenantId":"t1","callId":"route-\#($0)","agentId":"a1","workMode":"1"}"# }
            try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let batch = try await gut.tool(["publish", file])
            #expect(batch.status == 0, "\(batch.output)")
            let live = try await gut.tool(["publish", file, "--live", "--progress", gut.directory + "/live.progress"])
            #expect(live.status == 0, "\(live.output)")
            #expect(try await gut.queueDepth(gut.prefix + ".commands.batch") == 3)
            #expect(try await gut.commandsQueueDepth() == 3)
        }
    }

    /// 10,000 batch commands draining, 30 live ones published during it: the live commands' worst
    /// latency stays within twice the idle worst case (plus slack for a shared machine). OIFDE
    /// answers in 50 ms and the gateway has 16 slots, so the batch holds every slot for a while
    /// without taking the machine's CPU from the other tests.
    @Test func liveCommandsDoNotWaitBehindABatch() async throws {
        try await withGateway(environment: ["WMG_PIPELINE_MAXINFLIGHT": "16", "WMG_RETRY_DEADLINE": "10m"]) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"latencyMs": 50}"#)
            func liveLatencies(_ prefix: String) async throws -> [Duration] {
                var latencies: [Duration] = []
                for index in 0..<30 {
                    let started = ContinuousClock.now
                    try await gut.publish(Self.body(call: "\(prefix)-\(index)"), messageId: "\(prefix)-\(index)")
                    while true {
                        let result = try await gut.nextResults(1, within: 30)
                        if (result.first?["commandId"] as? String) == "\(prefix)-\(index)" { break }
                    }
                    latencies.append(ContinuousClock.now - started)
                }
                return latencies
            }
            let idle = try await liveLatencies("idle")
            let batch = (0..<10_000).map { (Self.body(call: "batch-\($0)"), "batch-\($0)") }
            try await gut.publishAll(batch, routingKey: "batch")
            let batchLeft = try await gut.queueDepth(gut.prefix + ".commands.batch")
            #expect(batchLeft > 5000, "the batch is still draining while the live commands go")
            let busy = try await liveLatencies("busy")
            let idleWorst = idle.max() ?? .zero
            let busyWorst = busy.max() ?? .zero
            print(
                "live latency: idle worst \(idleWorst), during the batch worst \(busyWorst) (batch commands still queued when it began: \(batchLeft))"
            )
            // Behind the 512 prefetched batch commands in arrival order, a live one would wait about
            // 1.6 s for a slot (512 / 320 a second); the slack covers a loaded CI machine's pauses
            // (one run saw 481 ms against 148 ms idle) and still tells the two apart.
            #expect(busyWorst <= idleWorst * 2 + .milliseconds(500), "idle worst \(idleWorst), busy worst \(busyWorst)")
        }
    }
}
