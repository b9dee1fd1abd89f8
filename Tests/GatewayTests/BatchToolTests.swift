import AMQP
import Foundation
import Testing

/// The operator tools as an unattended batch job uses them (issue 20): exit 0 must mean every
/// command of the file is on the queue, and a failed run must be safe to run again.
@Suite(.timeLimit(.minutes(10)), .serialized) struct BatchToolTests {
    static func command(_ n: Int, messageId: String? = nil) -> String {
        let id = messageId.map { #""messageId":"\#($0)","# } ?? ""
        return #"{\#(id)"tenantId":"t1","callId":"batch-\#(n)","agentId":"a1","workMode":"1"}"#
    }

    static func write(_ lines: [String], to path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A publish of `count` generated commands at `rate` per second, left running in the background.
    static func pacedPublish(_ gut: GatewayUnderTest, name: String, count: Int, rate: Int) throws -> (path: String, process: ChildProcess) {
        let path = gut.directory + "/\(name).jsonl"
        try write((0..<count).map { command($0) }, to: path)
        let process = try ChildProcess(
            arguments: ["publish", path, "--rate", "\(rate)", "--config", gut.configPath], environment: gut.environment,
            outputPath: gut.directory + "/\(name).log"
        )
        return (path, process)
    }

    @Test func aRepeatedMessageIdRefusesTheFileNamingBothLines() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let path = gut.directory + "/repeated.jsonl"
            try Self.write([Self.command(1, messageId: "job-a"), Self.command(2, messageId: "job-b"), Self.command(3, messageId: "job-a")], to: path)
            let validated = try await gut.tool(["validate", path])
            #expect(validated.status == 65)
            #expect(
                validated.output.contains("line 3: /messageId duplicate_field: messageId \"job-a\" is already used on line 1"), "\(validated.output)")
            let refused = try await gut.tool(["publish", path])
            #expect(refused.status == 65, "\(refused.output)")
            #expect(try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).isEmpty)
            let skipped = try await gut.tool(["publish", path, "--skip-invalid"])
            #expect(skipped.status == 0, "\(skipped.output)")
            let arrived = try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut)
            #expect(arrived.compactMap(\.properties.messageId) == ["job-a", "job-b"])
            #expect(arrived.first.map { String(decoding: $0.body, as: UTF8.self).contains("batch-1") } == true, "the first keeps its ID")
        }
    }

    @Test func amqpLimitsAreCheckedBeforeAnythingIsPublished() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let path = gut.directory + "/long-id.jsonl"
            let longId = String(repeating: "x", count: 256)
            try Self.write([Self.command(1), Self.command(2, messageId: longId), Self.command(3)], to: path)
            let validated = try await gut.tool(["validate", path])
            #expect(validated.status == 65)
            #expect(validated.output.contains("line 2: /messageId too_long: messageId is 256 bytes"), "\(validated.output)")
            let refused = try await gut.tool(["publish", path])
            #expect(refused.status == 65, "\(refused.output)")
            #expect(try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).isEmpty, "not even the line before it")

            let fine = gut.directory + "/fine.jsonl"
            try Self.write([Self.command(1)], to: fine)
            let prefix = String(repeating: "p", count: 254)
            let correlation = try await gut.tool(["publish", fine, "--correlation-prefix", prefix])
            #expect(correlation.status == 65, "\(correlation.output)")
            #expect(correlation.output.contains("line 1: (document) too_long: correlation_id"), "\(correlation.output)")
        }
    }

    @Test func csvCellsMustBeUTF8AndAByteOrderMarkIsIgnored() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let bad = gut.directory + "/latin1.csv"
            var bytes = Array("tenantId,callId,agentId,workMode\nt1,call-".utf8)
            bytes += [0xE9, 0x41]  // "é" in Latin-1, then "A"
            bytes += Array(",a1,1\n".utf8)
            _ = FileManager.default.createFile(atPath: bad, contents: Data(bytes))
            let validated = try await gut.tool(["validate", bad])
            #expect(validated.status == 65)
            #expect(
                validated.output.contains("line 2: /callId invalid_utf8: column callId (field 2) holds bytes that are not valid UTF-8"),
                "\(validated.output)")
            let refused = try await gut.tool(["publish", bad])
            #expect(refused.status == 65)

            let withMark = gut.directory + "/excel.csv"
            _ = FileManager.default.createFile(
                atPath: withMark, contents: Data([0xEF, 0xBB, 0xBF] + Array("tenantId,callId,agentId,workMode\nt1,call-bom,a1,1\n".utf8)))
            let csv = try await gut.tool(["validate", withMark])
            #expect(csv.status == 0, "\(csv.output)")
            let jsonWithMark = gut.directory + "/marked.jsonl"
            _ = FileManager.default.createFile(atPath: jsonWithMark, contents: Data([0xEF, 0xBB, 0xBF] + Array((Self.command(1) + "\n").utf8)))
            let json = try await gut.tool(["validate", jsonWithMark])
            #expect(json.status == 0, "\(json.output)")
            #expect(json.output.contains("checked 1 commands: 1 valid, 0 invalid"), "\(json.output)")

            // A stray quote inside an unquoted field is a literal, and never swallows the next line.
            let quote = gut.directory + "/quote.csv"
            try "tenantId,callId,agentId,workMode\nt1,a\"b,a1,1\nt1,call-2,a1,1\nt1,call-3,a1,2\n".write(
                toFile: quote, atomically: true, encoding: .utf8)
            let quoted = try await gut.tool(["validate", quote])
            #expect(quoted.output.contains("checked 3 commands: 3 valid, 0 invalid"), "\(quoted.output)")
        }
    }

    @Test func aDirectoryIsNotAnEmptyFile() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            for tool in ["validate", "publish"] {
                let run = try await gut.tool([tool, gut.directory])
                #expect(run.status == 65, "\(tool): \(run.output)")
                #expect(run.output.contains("\(gut.directory) is a directory"), "\(tool): \(run.output)")
                #expect(!run.output.contains("checked 0") && !run.output.contains("published 0"))
            }
        }
    }

    @Test func sigtermSettlesRecordsProgressAndResumeFinishesTheFile() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let count = 2000
            let (path, publisher) = try Self.pacedPublish(gut, name: "paced", count: count, rate: 250)
            #expect(await publisher.waitForOutput("published", timeout: .seconds(5)) == false, "still running")
            // Stopped once some lines are confirmed (on the queue), however long a loaded machine
            // took to start the tool: a fixed sleep once stopped it before its first confirm.
            let started = ContinuousClock.now
            while try await gut.queueDepth(gut.prefix + ".commands.batch") < 50, ContinuousClock.now - started < .seconds(30) {
                try await Task.sleep(for: .milliseconds(50))
            }
            publisher.signal(SIGTERM)
            let status = await publisher.waitForExit(timeout: .seconds(20))
            #expect(status == 143, "\(publisher.output)")
            let progress = try #require(
                try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + ".progress"))) as? [String: Any])
            let through = try #require(progress["confirmedThroughLine"] as? Int)
            #expect(through > 0 && through < count, "\(progress)")
            #expect(progress["complete"] as? Bool == false)
            #expect(publisher.output.contains("stopped by signal 15: confirmed through line \(through) of \(count)"), "\(publisher.output)")

            let resumed = try await gut.tool(["publish", path, "--resume"])
            #expect(resumed.status == 0, "\(resumed.output)")
            #expect(resumed.output.contains("resuming after line \(through)"), "\(resumed.output)")
            #expect(resumed.output.contains("complete: every line through \(count) is on the queue"), "\(resumed.output)")
            let arrived = try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut)
            let ids = arrived.compactMap(\.properties.messageId)
            #expect(ids.count == count, "nothing twice, nothing missing")
            #expect(Set(ids).count == count)

            let again = try await gut.tool(["publish", path, "--resume"])
            #expect(again.status == 0)
            #expect(again.output.contains("nothing to publish"), "\(again.output)")
        }
    }

    @Test func afterKillNineAResumeOrAPlainRerunSendsTheSameIds() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let count = 1500
            let (path, publisher) = try Self.pacedPublish(gut, name: "killed", count: count, rate: 300)
            // Killed once its progress file records confirmed lines (polled: on a loaded machine the
            // first record came after more than the 2.5 s this test used to sleep).
            func confirmed() -> Int {
                let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + ".progress")))
                return (object as? [String: Any])?["confirmedThroughLine"] as? Int ?? 0
            }
            let end = ContinuousClock.now + .seconds(60)
            while confirmed() == 0, publisher.process.isRunning, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(50)) }
            #expect(publisher.process.isRunning, "killed half-way, not after it finished: \(publisher.output)")
            publisher.signal(SIGKILL)
            _ = await publisher.waitForExit(timeout: .seconds(10))
            #expect(confirmed() > 0 && confirmed() < count, "the progress file records part of the file: \(confirmed())")
            let resumed = try await gut.tool(["publish", path, "--resume"])
            #expect(resumed.status == 0, "\(resumed.output)")
            let first = try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).compactMap(\.properties.messageId)
            #expect(Set(first).count == count, "every line is on the queue")
            #expect(first.count - count < 400, "at most the unrecorded second was sent twice: \(first.count)")

            // A plain re-run gives every line the same ID as before, so the daemon's journal
            // answers it instead of forwarding again.
            let rerun = try await gut.tool(["publish", path])
            #expect(rerun.status == 0, "\(rerun.output)")
            let second = try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).compactMap(\.properties.messageId)
            #expect(Set(second) == Set(first))
            #expect(second.allSatisfy { $0.hasPrefix("batch-") })
        }
    }

    @Test func standardInputLeavesNoSpoolBehind() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let path = gut.directory + "/stdin.jsonl"
            try Self.write([Self.command(1), Self.command(2)], to: path)
            let spools = {
                (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))?.filter { $0.hasPrefix("workmode-gateway-stdin-") }
                    ?? []
            }
            let before = Set(spools())
            let run = try await gut.tool(["publish", "-"], standardInput: path)
            #expect(run.status == 0, "\(run.output)")
            #expect(Set(spools()).subtracting(before).isEmpty)
            #expect(try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).count == 2)
            let resume = try await gut.tool(["publish", "-", "--resume"], standardInput: path)
            #expect(resume.status == 64, "\(resume.output)")
        }
    }

    @Test func badOptionsAreRefusedWithOneLine() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let path = gut.directory + "/one.jsonl"
            try Self.write([Self.command(1)], to: path)
            let cases: [[String]] = [
                ["publish", path, "--rate", "0"], ["publish", path, "--rate=-5"], ["publish", path, "--deadline", "2020-01-01T00:00:00Z"],
                ["publish", path, "--deadline", "0s"], ["dead-letters", "list", "--limit=-1"], ["dead-letters", "replay", "--max-redrives=-1"],
                ["dead-letters", "list", "--class", "bogus"], ["dead-letters", "replay", "--rate", "0"],
            ]
            for arguments in cases {
                let run = try await gut.tool(arguments)
                #expect(run.status == 64, "\(arguments): \(run.output)")
                #expect(run.output.split(separator: "\n").count == 1, "\(arguments): \(run.output)")
            }
            #expect(try await OperatorToolTests.takeAll(gut.prefix + ".commands.batch", gut).isEmpty)
        }
    }

    @Test func waitResultsExitsTwoWhenACommandDidNotSucceed() async throws {
        try await withGateway { gut in
            let path = gut.directory + "/mixed-results.jsonl"
            try Self.write([Self.command(1), #"{"tenantId":"nobody","callId":"c","agentId":"a1","workMode":"1"}"#], to: path)
            let run = try await gut.tool(["publish", path, "--wait-results", "--results-timeout", "60s"])
            #expect(run.status == 2, "\(run.output)")
            #expect(run.output.contains("1 rejected, 1 succeeded"), "\(run.output)")
        }
    }

    @Test func aDeadLetterWhoseExchangeIsGoneDoesNotStopTheReplay() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            for index in 0..<5 {
                let origin = index == 1 ? "gone-\(gut.prefix)" : gut.commandsExchange
                let properties = MessageProperties(
                    contentType: "application/json",
                    headers: [
                        "x-failure-class": .string("exhausted"), "x-failure-reason": .string("test"), "x-original-exchange": .string(origin),
                        "x-original-routing-key": .string("change"),
                    ],
                    deliveryMode: .persistent, messageId: "dl-\(index)"
                )
                let outcome = try await gut.channel.publishAndConfirm(
                    Array(Self.command(index).utf8), exchange: gut.prefix + ".dead", routingKey: "exhausted", mandatory: true, properties: properties
                )
                #expect(outcome == .acked)
            }
            let replay = try await gut.tool(["dead-letters", "replay"])
            #expect(replay.status == 1, "\(replay.output)")
            #expect(replay.output.contains("could not replay dl-1 to gone-\(gut.prefix)"), "\(replay.output)")
            #expect(replay.output.contains("replayed 4, refused 0 at the redrive limit, 1 could not be published"), "\(replay.output)")
            let back = try await OperatorToolTests.takeAll(gut.prefix + ".commands", gut).compactMap(\.properties.messageId)
            #expect(Set(back) == ["dl-0", "dl-2", "dl-3", "dl-4"])
            let left = try await gut.drainDeadLetters().compactMap(\.properties.messageId)
            #expect(left == ["dl-1"])
        }
    }

    @Test func topologyCheckNamesEveryMissingEntity() async throws {
        try await withGateway { gut in
            await gut.gateway.stop()
            let run = try await gut.tool(
                ["topology", "check"],
                environment: [
                    "WMG_TOPOLOGY_COMMANDSQUEUE": gut.prefix + ".no-such-queue", "WMG_TOPOLOGY_RESULTSEXCHANGE": gut.prefix + ".no-such-exchange",
                ])
            #expect(run.status == 2, "drift exits 2: \(run.output)")
            #expect(run.output.contains("exchange \(gut.prefix).no-such-exchange is missing"), "\(run.output)")
            #expect(run.output.contains("queue \(gut.prefix).no-such-queue is missing"), "\(run.output)")
            // The batch queue is named after the commands queue, so it is missing too.
            #expect(run.output.contains("queue \(gut.prefix).no-such-queue.batch is missing"), "\(run.output)")
            #expect(run.output.contains("3 entities are missing or differ"), "\(run.output)")
        }
    }
}
