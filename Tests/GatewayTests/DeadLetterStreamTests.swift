import AMQP
import Foundation
import Testing

/// Dead letters that reading cannot destroy (docs/contract.md section 14): the stream and its
/// settlement records, on whichever broker `WMG_TEST_AMQP_URL` names (the test command runs the
/// suite on RabbitMQ 3.10 and on 4.x).
@Suite(.timeLimit(.minutes(10))) struct DeadLetterStreamTests {
    /// `count` dead letters as the gateway writes them, published straight to the dead-letter
    /// exchange (every header kind of section 6).
    static func writeLetters(_ gut: GatewayUnderTest, count: Int, prefix: String = "dl", channel: AMQPChannel? = nil) async throws {
        for n in 0..<count {
            var headers = FieldTable()
            headers["x-failure-class"] = .string("rejected")
            headers["x-failure-reason"] = .string("OIFDE refused: 10000002")
            headers["x-failure-error-code"] = .string("10000002")
            headers["x-failure-http-status"] = .int64(200)
            headers["x-attempts"] = .int64(1)
            headers["x-dead-lettered-at"] = .string("2026-12-07T01:00:00.000Z")
            headers["x-original-exchange"] = .string(gut.commandsExchange)
            headers["x-original-routing-key"] = .string("change")
            headers["x-redrive-count"] = .int64(0)
            headers["x-death"] = .array([.table(["count": .int64(1), "reason": .string("rejected"), "time": .timestamp(1_796_000_000)])])
            let properties = MessageProperties(
                contentType: "application/json", headers: headers, deliveryMode: .persistent, messageId: "\(prefix)-\(n)")
            let answer = try await (channel ?? gut.channel).publishAndConfirm(
                Array(OperatorToolTests.command(n).utf8), exchange: gut.prefix + ".dead", routingKey: "rejected", mandatory: true,
                properties: properties)
            #expect(answer == .acked)
        }
    }

    /// What a letter is, for "unchanged": its body, message ID and headers as delivered.
    static func fingerprint(_ delivery: Delivery) -> String {
        "\(delivery.properties.messageId ?? "")|\(delivery.body)|\(delivery.properties.headers.map { "\($0.entries)" } ?? "")|\(delivery.redelivered)"
    }

    @Test(.timeLimit(.minutes(5))) func fiftyListingsByCLIAndAPIChangeNothing() async throws {
        try await withGateway { gut in
            try await Self.writeLetters(gut, count: 5)
            #expect(try await gut.openDeadLetterCount(expecting: 5) == 5)
            let before = try await gut.openDeadLetters().map(Self.fingerprint)
            // Ten readers at a time: the CLI's list and the console's API side by side.
            try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for round in 0..<100 {
                    if round >= 10 { _ = try await group.next().map { #expect($0.1 == 5, "\($0.0) saw \($0.1) of 5") } }
                    group.addTask {
                        if round.isMultiple(of: 2) {
                            let run = try await gut.tool(["dead-letters", "list", "--json"])
                            #expect(run.status == 0, "\(run.output)")
                            return ("CLI listing \(round)", run.output.split(separator: "\n").filter { $0.hasPrefix("{") }.count)
                        }
                        let answer = try await ConsoleTests.http(gut, "GET", "/api/dead-letters")
                        return ("API listing \(round)", answer.json["matched"] as? Int ?? -1)
                    }
                }
                for try await (who, seen) in group { #expect(seen == 5, "\(who) saw \(seen) of 5") }
            }
            let after = try await gut.openDeadLetters().map(Self.fingerprint)
            #expect(after == before, "every letter as it was: same order, headers, not redelivered")
        }
    }

    @Test(.timeLimit(.minutes(5))) func replayAndPurgeAreExactWhileTenReadersRead() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            try await Self.writeLetters(gut, count: 5)
            #expect(try await gut.openDeadLetterCount(expecting: 5) == 5)
            // The daemon is stopped, so the replayed commands stay on the commands queue to count.
            let readers = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<10 { group.addTask { try await gut.openDeadLetters().count } }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
            }
            async let replay = gut.tool(["dead-letters", "replay"])
            let seen = try await readers.value
            let replayed = try await replay
            #expect(replayed.status == 0, "\(replayed.output)")
            #expect(replayed.output.contains("replayed 5,"), "\(replayed.output)")
            #expect(seen.allSatisfy { (0...5).contains($0) }, "\(seen)")
            let back = try await OperatorToolTests.takeAll(gut.prefix + ".commands", gut).compactMap(\.properties.messageId)
            #expect(back.sorted() == (0..<5).map { "dl-\($0)" }, "each replayed exactly once")
            #expect(try await gut.openDeadLetterCount(expecting: 0) == 0)

            // Two replays at once: the settle lock lets one act; the other finds nothing open.
            try await Self.writeLetters(gut, count: 4, prefix: "two")
            #expect(try await gut.openDeadLetterCount(expecting: 4) == 4)
            async let first = gut.tool(["dead-letters", "replay"])
            async let second = gut.tool(["dead-letters", "replay"])
            let (one, other) = try await (first, second)
            #expect(one.status == 0 && other.status == 0, "\(one.output)\n\(other.output)")
            let again = try await OperatorToolTests.takeAll(gut.prefix + ".commands", gut).compactMap(\.properties.messageId)
            #expect(again.sorted() == (0..<4).map { "two-\($0)" }, "two concurrent replays sent each letter once: \(again)")

            // Purge under readers: exactly the matching ones, once.
            try await Self.writeLetters(gut, count: 3, prefix: "p")
            let purge = try await gut.tool(["dead-letters", "purge", "--yes"])
            #expect(purge.output.contains("deleted 3 dead letters"), "\(purge.output)")
            #expect(try await gut.openDeadLetterCount(expecting: 0) == 0)
        }
    }

    @Test(.timeLimit(.minutes(3))) func aRebindingRequestIsRefusedAndNoQueryStopsTheDaemon() async throws {
        try await withGateway { gut in
            try await Self.writeLetters(gut, count: 1)
            let rebinding = ["Host": "evil.example:\(gut.adminPort)", "Origin": "http://evil.example:\(gut.adminPort)"]
            #expect(try await ConsoleTests.http(gut, "GET", "/api/dead-letters", headers: rebinding).status == 403)
            #expect(try await ConsoleTests.http(gut, "GET", "/console", headers: rebinding).status == 403)
            let purge = try await ConsoleTests.http(
                gut, "POST", "/api/dead-letters/purge", headers: rebinding.merging(["Content-Type": "application/json"]) { $1 },
                body: #"{"ids":["dl-0"]}"#)
            #expect(purge.status == 403, "\(purge.body)")
            // A request's own Host is no longer the yardstick for Origin.
            let spoofed = try await ConsoleTests.http(
                gut, "POST", "/api/dead-letters/purge", headers: ["Origin": "http://127.0.0.2:1", "Content-Type": "application/json"],
                body: #"{"ids":["dl-0"]}"#)
            #expect(spoofed.status == 403, "\(spoofed.body)")
            for query in ["since=99999999999999h", "since=1e300s", "since=-5m", "limit=99999999999999999999999", "since=nan"] {
                let answer = try await ConsoleTests.http(gut, "GET", "/api/dead-letters?\(query)")
                #expect(answer.status == 400, "\(query): \(answer.status) \(answer.body)")
            }
            #expect(try await gut.openDeadLetterCount(expecting: 1) == 1, "nothing refused changed anything")
            #expect(try await ConsoleTests.http(gut, "GET", "/api/dead-letters").status == 200, "the daemon still runs")
        }
    }

    @Test(.timeLimit(.minutes(5))) func migrationFromTheQuorumQueueKilledAndResumedKeepsEveryLetterOnce() async throws {
        // The earlier versions' shape: a quorum dead-letter queue, declared before the gateway starts.
        try await withGateway(prepare: { channel, prefix in
            try await channel.declareExchange(prefix + ".dead", type: .topic)
            try await channel.declareQueue(prefix + ".dead", durable: true, arguments: ["x-queue-type": .string("quorum")])
            try await channel.bindQueue(prefix + ".dead", exchange: prefix + ".dead", routingKey: "#")
        }) { gut in
            #expect(gut.gateway.output.contains("dead-letters migrate"), "the start says how to migrate")
            await gut.gateway.stop()
            try await Self.writeLetters(gut, count: 150)
            // A poison letter as the broker writes it: no failure headers, its class in the routing key.
            _ = try await gut.channel.publishAndConfirm(
                Array("{}".utf8), exchange: gut.prefix + ".dead", routingKey: "poison",
                properties: MessageProperties(deliveryMode: .persistent, messageId: "poison-1"))
            let list = try await gut.tool(["dead-letters", "list"])
            #expect(list.status == 1 && list.output.contains("dead-letters migrate"), "\(list.output)")
            let check = try await gut.tool(["topology", "check"])
            #expect(check.output.contains("dead-letters migrate"), "\(check.output)")

            let migration = try ChildProcess(
                arguments: ["dead-letters", "migrate", "--rate", "50", "--config", gut.configPath], outputPath: gut.directory + "/migrate.log")
            // Killed once letters are on their way (the staging stream exists and has some).
            let end = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < end {
                let staged = try? await OperatorToolTests.quickDepth(gut.prefix + ".dead", gut)
                if let staged, staged < 130 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            migration.signal(SIGKILL)
            _ = await migration.waitForExit(timeout: .seconds(10))
            let resumed = try await gut.tool(["dead-letters", "migrate"])
            #expect(resumed.status == 0, "\(resumed.output)")
            #expect(resumed.output.contains("into the stream"), "\(resumed.output)")
            let letters = try await gut.openDeadLetters()
            let ids = letters.compactMap(\.properties.messageId)
            #expect(ids.count == 151, "every letter once: \(ids.count)")
            #expect(Set(ids) == Set((0..<150).map { "dl-\($0)" } + ["poison-1"]))
            let poison = try await gut.tool(["dead-letters", "list", "--class", "poison"])
            #expect(poison.output.contains("1 of 151 dead letters match"), "\(poison.output)")
            let again = try await gut.tool(["dead-letters", "migrate"])
            #expect(again.output.contains("nothing to migrate"), "\(again.output)")
            #expect(try await gut.openDeadLetters().count == 151, "reading changed nothing")
        }
    }

    /// The retention alert's inputs: the open letters and the oldest one's age follow the letters
    /// (a purge lowers the count) and the retention is the configured one.
    @Test(.timeLimit(.minutes(3))) func openLettersAndTheOldestAgeAreExportedForTheRetentionAlert() async throws {
        try await withGateway(environment: ["WMG_TOPOLOGY_DEADLETTERWATCHINTERVAL": "1s", "WMG_TOPOLOGY_DEADLETTERRETENTION": "7d"]) { gut in
            try await Self.writeLetters(gut, count: 3, prefix: "watch")
            func figures() async throws -> [String: Double] { try await AdminTests.parse(await gut.admin("/metrics").body) }
            var seen: [String: Double] = [:]
            let end = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < end {
                seen = try await figures()
                if seen["wmg_dead_letters_open{}"] == 3 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(seen["wmg_dead_letters_open{}"] == 3, "\(seen.filter { $0.key.hasPrefix("wmg_dead_letters") })")
            #expect(seen["wmg_dead_letters_retention_seconds{}"] == Double(7 * 86_400))
            // The letters say they were dead-lettered at 2026-12-07T01:00:00Z: the age is measured from that.
            let expectedAge = Date().timeIntervalSince(Date(timeIntervalSince1970: 1_796_605_200))
            let age = seen["wmg_dead_letters_oldest_age_seconds{}"] ?? -1
            #expect(abs(age - expectedAge) < 120, "oldest age \(age), expected about \(expectedAge)")

            let purged = try await ConsoleTests.http(
                gut, "POST", "/api/dead-letters/purge", headers: ConsoleTests.changing(gut), body: #"{"ids":["watch-0"]}"#)
            #expect(purged.json["deleted"] as? Int == 1, "\(purged.body)")
            let after = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < after {
                seen = try await figures()
                if seen["wmg_dead_letters_open{}"] == 2 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(seen["wmg_dead_letters_open{}"] == 2, "a purge lowers the open count: \(seen["wmg_dead_letters_open{}"] ?? -1)")
        }
    }
}
