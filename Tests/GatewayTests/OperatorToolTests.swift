import AMQP
import Foundation
import Testing

/// The operator commands of docs/contract.md section 9, run as the built executable against the real
/// broker with the same configuration file as the daemon.
@Suite(.timeLimit(.minutes(10))) struct OperatorToolTests {
    static func command(_ n: Int, mode: Int = 1) -> String {
        #"{"tenantId":"t1","callId":"op-\#(n)","agentId":"a1","workMode":"\#(mode)"}"#
    }

    /// Takes every message off a queue (acked).
    static func takeAll(_ queue: String, _ gut: GatewayUnderTest) async throws -> [Delivery] {
        var taken: [Delivery] = []
        let reader = try await gut.connection.openChannel()
        while let delivery = try await reader.get(queue: queue) {
            taken.append(delivery)
            try reader.ack(delivery)
        }
        try? await reader.close()
        return taken
    }

    /// Messages in `queue` by a passive declare: fast enough to poll, but a quorum queue answers 0
    /// when its leader takes longer than 250 ms to reply, which a loaded machine does (and
    /// rabbitmqctl's counts for quorum queues lag by seconds), so only for waiting.
    static func quickDepth(_ queue: String, _ gut: GatewayUnderTest) async throws -> UInt32 {
        let reader = try await gut.connection.openChannel()
        let info = try await reader.checkQueue(queue)
        try? await reader.close()
        return info.messageCount
    }

    /// Messages in `queue`, read until they equal `expected` or 10 s pass; returns the last reading.
    static func depth(_ queue: String, _ gut: GatewayUnderTest, expecting expected: UInt32) async throws -> UInt32 {
        let end = ContinuousClock.now + .seconds(10)
        var reading = try await quickDepth(queue, gut)
        while reading != expected, ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(200))
            reading = try await quickDepth(queue, gut)
        }
        return reading
    }

    @Test func publishesJSONLinesAndCSVCompleteWithTheirIds() async throws {
        try await withGateway { gut in
            // The daemon stays out of the way, so what arrives can be counted on the queue.
            await gut.gateway.stop()
            let jsonl = gut.directory + "/batch.jsonl"
            let lines = (0..<10_000).map { n in
                // Every other line names its own messageId; the rest get a UUID.
                n % 2 == 0
                    ? #"{"messageId":"job-\#(n)","tenantId":"t1","callId":"op-\#(n)","agentId":"a1","workMode":"2"}"#
                    : Self.command(n, mode: 2)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
            let published = try await gut.tool(["publish", jsonl, "--correlation-prefix", "job", "--deadline", "10m"])
            #expect(published.status == 0, "\(published.output)")
            #expect(published.output.contains("published 10000 commands"), "\(published.output)")
            #expect(published.output.contains("10000 confirmed, 0 returned, 0 nacked"), "\(published.output)")
            // Files go to the batch queue (docs/contract.md section 12).
            let arrived = try await Self.takeAll(gut.prefix + ".commands.batch", gut)
            #expect(arrived.count == 10_000)
            let ids = arrived.compactMap(\.properties.messageId)
            #expect(Set(ids).count == 10_000, "every command has its own message_id")
            let named = Set(ids.filter { $0.hasPrefix("job-") })
            #expect(named == Set(stride(from: 0, to: 10_000, by: 2).map { "job-\($0)" }))
            // The messageId member is taken out of the body: the daemon would refuse an unknown field.
            #expect(arrived.allSatisfy { !String(decoding: $0.body, as: UTF8.self).contains("messageId") })
            #expect(arrived.allSatisfy { $0.properties.deliveryMode == .persistent && $0.properties.timestamp != nil })
            #expect(arrived.allSatisfy { $0.properties.headers?["x-deadline"]?.stringValue != nil })
            // The partition key of docs/contract.md section 11, set whether or not the topology is partitioned.
            #expect(
                arrived.allSatisfy { delivery in
                    let body = String(decoding: delivery.body, as: UTF8.self)
                    guard let key = delivery.properties.headers?["x-call-key"]?.stringValue, key.hasPrefix("t1/") else { return false }
                    return body.contains(#""callId":"\#(key.dropFirst(3))""#)
                })
            #expect(arrived.first?.properties.correlationId == "job-1")

            let csv = gut.directory + "/batch.csv"
            try #"""
            messageId,tenantId,callId,agentId,workMode,callTransferType,callTransferRouteValue,callTransferTransData
            csv-1,t1,csv-call-1,a1,1,,,
            csv-2,t1,csv-call-2,a1,3,5,+8613800000000,"note, with ""quotes"""
            csv-3,t1,csv-call-3,a1,3,7,,

            """#.write(toFile: csv, atomically: true, encoding: .utf8)
            let csvPublished = try await gut.tool(["publish", csv])
            #expect(csvPublished.status == 0, "\(csvPublished.output)")
            let rows = try await Self.takeAll(gut.prefix + ".commands.batch", gut)
            #expect(rows.map(\.properties.messageId) == ["csv-1", "csv-2", "csv-3"])
            let transfer = try #require(try JSONSerialization.jsonObject(with: Data(rows[1].body)) as? [String: Any])
            let request = try #require(transfer["callTransferRequest"] as? [String: Any])
            #expect(request["callTransferType"] as? String == "5")
            #expect(request["callTransferRouteValue"] as? String == "+8613800000000")
            #expect(request["callTransferTransData"] as? String == #"note, with "quotes""#)
            #expect(transfer["workMode"] as? String == "3")
        }
    }

    @Test func anInvalidLineRefusesTheWholeFileAndValidateNamesIt() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let path = gut.directory + "/mixed.jsonl"
            var lines = (0..<9).map { Self.command($0) }
            lines.insert(#"{"tenantId":"t1","callId":"op-x","agentId":"","workMode":"3","callTransferRequest":{"callTransferType":"9"}}"#, at: 4)
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)

            let validated = try await gut.tool(["validate", path])
            #expect(validated.status == 65)
            #expect(validated.output.contains("line 5: /callTransferRequest/callTransferType not_allowed"), "\(validated.output)")
            #expect(validated.output.contains("line 5: /agentId"), "every error of the line: \(validated.output)")
            #expect(validated.output.contains("checked 10 commands: 9 valid, 1 invalid"), "\(validated.output)")

            let refused = try await gut.tool(["publish", path])
            #expect(refused.status == 65, "\(refused.output)")
            #expect(refused.output.contains("line 5:"), "\(refused.output)")
            #expect(refused.output.contains("nothing was published"), "\(refused.output)")
            #expect(try await Self.depth(gut.prefix + ".commands.batch", gut, expecting: 0) == 0)

            let skipped = try await gut.tool(["publish", path, "--skip-invalid"])
            #expect(skipped.status == 0, "\(skipped.output)")
            #expect(try await Self.depth(gut.prefix + ".commands.batch", gut, expecting: 9) == 9)

            let good = gut.directory + "/good.jsonl"
            try (Self.command(1) + "\n").write(toFile: good, atomically: true, encoding: .utf8)
            let clean = try await gut.tool(["validate", good])
            #expect(clean.status == 0)
            #expect(clean.output.contains("checked 1 commands: 1 valid, 0 invalid"))
        }
    }

    @Test func listLeavesTheQueueAsItWasAndReplayBringsEachBackOnce() async throws {
        try await withGateway { gut in
            // 100 commands refused for good by OIFDE: 100 dead letters of class rejected. Every
            // change is refused (not a count), so a retry after a slow answer is refused too.
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults", body: #"{"errorCode":"10000002","fraction":1.0,"target":"changeWorkMode"}"#)
            try await gut.publishAll((0..<100).map { (Self.command($0), "dl-\($0)") })
            let rejected = try await gut.nextResults(100, within: 60)
            #expect(rejected.allSatisfy { $0["status"] as? String == "rejected" })
            #expect(try await gut.openDeadLetterCount(expecting: 100) == 100)

            let listed = try await gut.tool(["dead-letters", "list", "--class", "rejected", "--limit", "5"])
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.output.contains("100 of 100 dead letters match (first 5 shown)"), "\(listed.output)")
            #expect(listed.output.split(separator: "\n").filter { $0.contains("  rejected  dl-") }.count == 5, "\(listed.output)")
            let asJSON = try await gut.tool(["dead-letters", "list", "--json", "--tenant", "t1"])
            #expect(asJSON.output.split(separator: "\n").count == 100)
            let none = try await gut.tool(["dead-letters", "list", "--class", "expired"])
            #expect(none.output.contains("0 of 100 dead letters match"), "\(none.output)")
            // Browsing changed nothing.
            #expect(try await gut.openDeadLetterCount(expecting: 100) == 100)

            let dryRun = try await gut.tool(["dead-letters", "replay", "--dry-run"])
            #expect(dryRun.output.contains("would replay 100"), "\(dryRun.output)")
            #expect(try await gut.openDeadLetterCount(expecting: 100) == 100)

            // OIFDE accepts them now: each comes back once and succeeds.
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            let replayed = try await gut.tool(["dead-letters", "replay"])
            #expect(replayed.status == 0, "\(replayed.output)")
            #expect(replayed.output.contains("replayed 100, refused 0"), "\(replayed.output)")
            let succeeded = try await gut.nextResults(100, within: 60)
            #expect(succeeded.allSatisfy { $0["status"] as? String == "succeeded" })
            #expect(Set(succeeded.compactMap { $0["commandId"] as? String }) == Set((0..<100).map { "dl-\($0)" }))
            #expect(try await gut.openDeadLetterCount(expecting: 0) == 0)
            let forwards = try await gut.simulator.requests().filter { ($0["commandId"] as? String)?.hasPrefix("dl-") == true }
            #expect(forwards.count == 200, "each command reached OIFDE once refused and once replayed")
        }
    }

    @Test func replayStopsAtMaxRedrives() async throws {
        // A 2 s OIFDE timeout: no forward is counted here, and a request that hangs on a loaded
        // machine then costs 2 s, not 30 (CI once saw no result within 60 s).
        try await withGateway(environment: ["WMG_OIFDE_TIMEOUT": "2s"]) { gut in
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults", body: #"{"errorCode":"10000002","fraction":1.0,"target":"changeWorkMode"}"#)
            try await gut.publishAll((0..<10).map { (Self.command($0), "mr-\($0)") })
            _ = try await gut.nextResults(10, within: 60)
            let first = try await gut.tool(["dead-letters", "replay", "--max-redrives", "1"])
            #expect(first.output.contains("replayed 10, refused 0"), "\(first.output)")
            // Refused again by OIFDE, now with x-redrive-count 1.
            let again = try await gut.nextResults(10, within: 60)
            #expect(again.allSatisfy { $0["status"] as? String == "rejected" })
            // The dead letters of the second round are in the queue before the second replay reads it.
            _ = try await gut.openDeadLetterCount(expecting: 10)
            let second = try await gut.tool(["dead-letters", "replay", "--max-redrives", "1"])
            #expect(second.output.contains("replayed 0, refused 10"), "\(second.output)")
            #expect(try await gut.openDeadLetterCount(expecting: 10) == 10)
            let letters = try await gut.drainDeadLetters()
            #expect(letters.allSatisfy { $0.properties.headers?["x-redrive-count"]?.intValue == 1 })
        }
    }

    @Test func killingReplayHalfwayLosesNothing() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            // 100 dead letters as the gateway writes them.
            for n in 0..<100 {
                var headers = FieldTable()
                headers["x-failure-class"] = .string("exhausted")
                headers["x-failure-reason"] = .string("still failing after 5 attempts")
                headers["x-original-exchange"] = .string(gut.commandsExchange)
                headers["x-original-routing-key"] = .string("change")
                let properties = MessageProperties(contentType: "application/json", headers: headers, deliveryMode: .persistent, messageId: "k-\(n)")
                _ = try await gut.channel.publishAndConfirm(
                    Array(Self.command(n).utf8), exchange: gut.prefix + ".dead", routingKey: "exhausted", properties: properties)
            }
            #expect(try await gut.openDeadLetterCount(expecting: 100) == 100)
            let replay = try ChildProcess(
                arguments: ["dead-letters", "replay", "--rate", "5", "--config", gut.configPath], outputPath: gut.directory + "/replay.log"
            )
            // Killed once a fifth is back (about 4 s into a 20 s replay), however long the process
            // took to start on a loaded machine. At 20/s a loaded run's test process once stalled
            // long enough between the poll and the kill for 90 of 100 to be back.
            let end = ContinuousClock.now + .seconds(30)
            while try await Self.quickDepth(gut.prefix + ".commands", gut) < 20, ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(50))
            }
            replay.signal(SIGKILL)
            _ = await replay.waitForExit(timeout: .seconds(5))
            // A letter is settled only after its republish was confirmed, so every one is either
            // back on the commands queue or still open (the one in flight can be both).
            let back = try await Self.takeAll(gut.prefix + ".commands", gut)
            let stillDead = try await gut.openDeadLetters()
            #expect(back.count >= 20 && back.count < 90, "killed halfway: \(back.count) replayed")
            let all = back.compactMap(\.properties.messageId) + stillDead.compactMap(\.properties.messageId)
            #expect(Set(all) == Set((0..<100).map { "k-\($0)" }), "none lost")
            #expect(all.count - 100 <= 1, "at most the message in flight exists twice")
            #expect(back.allSatisfy { $0.properties.headers?["x-redrive-count"]?.intValue == 1 && $0.properties.headers?["x-failure-class"] == nil })
        }
    }

    @Test func topologyCheckReportsAndDeclareIsIdempotent() async throws {
        try await withGateway { gut in
            let checked = try await gut.tool(["topology", "check"])
            #expect(checked.status == 0, "\(checked.output)")
            #expect(
                checked.output.contains("queue \(gut.prefix).commands: ok (durable, x-queue-type=quorum, x-delivery-limit=20"), "\(checked.output)")
            let declared = try await gut.tool(["topology", "declare"])
            #expect(declared.status == 0, "\(declared.output)")
            #expect(
                declared.output.split(separator: "\n").count == 10,
                "3 exchanges, 4 queues (commands, batch, the dead-letter and settlement streams), 3 bindings: \(declared.output)")
            #expect(
                declared.output.contains("queue \(gut.prefix).dead: declared (durable, x-queue-type=stream, x-max-age=2592000s"), "\(declared.output)"
            )

            // Another prefix where the commands queue is a classic one: check says so and fails.
            let other = "t-" + UUID().uuidString.prefix(8).lowercased()
            try await gut.channel.declareExchange(other + ".commands", type: .direct)
            try await gut.channel.declareExchange(other + ".results", type: .topic)
            try await gut.channel.declareExchange(other + ".dead", type: .topic)
            try await gut.channel.declareQueue(other + ".commands", durable: true)
            try await gut.channel.declareQueue(other + ".dead", durable: true, arguments: ["x-queue-type": .string("quorum")])
            let environment = [
                "WMG_TOPOLOGY_COMMANDSEXCHANGE": other + ".commands", "WMG_TOPOLOGY_COMMANDSQUEUE": other + ".commands",
                "WMG_TOPOLOGY_RESULTSEXCHANGE": other + ".results", "WMG_TOPOLOGY_DEADLETTEREXCHANGE": other + ".dead",
                "WMG_TOPOLOGY_DEADLETTERQUEUE": other + ".dead",
            ]
            let differs = try await gut.tool(["topology", "check"], environment: environment)
            #expect(differs.status == 2, "drift exits 2: \(differs.output)")
            #expect(differs.output.contains("queue \(other).commands: DIFFERS"), "\(differs.output)")
            #expect(
                differs.output.contains("queue \(other).dead: DIFFERS") && differs.output.contains("dead-letters migrate"),
                "the earlier quorum dead-letter queue is named with the way out: \(differs.output)")
            let cleanup = try await gut.connection.openChannel()
            _ = try? await cleanup.deleteQueue(other + ".commands")
            _ = try? await cleanup.deleteQueue(other + ".dead")
            for suffix in [".commands", ".results", ".dead"] { try? await cleanup.deleteExchange(other + suffix) }
        }
    }
}
