import AMQP
import Foundation
import Testing
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// The defects fault probing found (issue 13), each against the real broker, the built gateway
/// and the simulator misbehaving on purpose.
@Suite(.timeLimit(.minutes(10)), .serialized) struct FaultProbeTests {
    static func body(call: String, mode: Int = 1) -> String {
        #"{"tenantId":"t1","callId":"\#(call)","agentId":"a1","workMode":"\#(mode)"}"#
    }

    /// Results until `ids` distinct command IDs have been seen (a publish retried after a nack can
    /// reach a queue that did take the first copy).
    static func distinctResults(_ gut: GatewayUnderTest, _ count: Int, within seconds: Double) async throws -> [String: [String: Any]] {
        var seen: [String: [String: Any]] = [:]
        let end = ContinuousClock.now + .seconds(seconds)
        while seen.count < count {
            let left = (end - ContinuousClock.now).timeInterval
            guard left > 0 else { throw HarnessError("\(seen.count) of \(count) results\n" + (await gut.diagnosis())) }
            for result in try await gut.nextResults(1, within: left) { seen[result["commandId"] as? String ?? ""] = result }
        }
        return seen
    }

    static func changeRequests(_ gut: GatewayUnderTest) async throws -> [[String: Any]] {
        try await gut.simulator.requests().filter { $0["endpoint"] as? String == "changeWorkMode" }
    }

    static func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("timed out waiting for \(what)")
    }

    // MARK: 1. a false success

    @Test func aGettokenAnswerWithoutATokenNeverMakesACommandSucceed() async throws {
        try await withGateway(environment: ["WMG_RETRY_MAXATTEMPTS": "2"]) { gut in
            // Every gettoken answers errorCode 0 with no token.
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults", body: #"{"target":"gettoken","rawBody":"{\"errorCode\":0,\"errorMsg\":\"token issued\"}","fraction":1.0}"#
            )
            try await gut.publish(Self.body(call: "no-token"), messageId: "no-token")
            let result = try #require(try await gut.nextResults(1, within: 30).first)
            #expect(result["status"] as? String == "failed")
            #expect(result["errorMsg"] as? String != "token issued")
            #expect(result["errorCode"] == nil)
            let reason = result["reason"] as? String ?? ""
            #expect(reason.contains("gettoken answered errorCode 0 without an authToken"), "\(reason)")
            #expect(try await Self.changeRequests(gut).isEmpty)
            let letters = try await gut.drainDeadLetters()
            #expect(letters.first?.properties.headers?["x-failure-reason"]?.stringValue?.contains("gettoken") == true)
            #expect(gut.allLogs.contains(#""reason":"still failing after 2 attempts; last: gettoken"#), "the failed line carries its reason")

            // Within the deadline, a token that comes back makes it go through.
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults", body: #"{"target":"gettoken","rawBody":"{\"errorCode\":0,\"authToken\":\"\"}","count":1}"#
            )
            try await gut.publish(Self.body(call: "token-later"), messageId: "token-later")
            let later = try #require(try await gut.nextResults(1, within: 30).first)
            #expect(later["status"] as? String == "succeeded")
            #expect(try await Self.changeRequests(gut).count == 1)
        }
    }

    // MARK: 2. journal and publish faults

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aFullDiskPausesInsteadOfDeadLetteringTheBacklog() async throws {
        let mount = try Harness.temporaryDirectory() + "/journal-fs"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let mounted = try await Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], mergeErrors: true)
        try #require(mounted.status == 0, "mount: \(mounted.output)")
        defer { _ = Glibc.umount2(mount, Int32(MNT_DETACH)) }
        try await withGateway(environment: ["WMG_DEDUPE_PATH": mount + "/completions.journal"]) { gut in
            // Fill the file system to the last byte.
            let filler =
                FileHandle(forWritingAtPath: mount + "/filler")
                ?? {
                    _ = FileManager.default.createFile(atPath: mount + "/filler", contents: nil)
                    return FileHandle(forWritingAtPath: mount + "/filler")
                }()
            let handle = try #require(filler)
            let block = Data(count: 4096)
            while (try? handle.write(contentsOf: block)) != nil {}
            try? handle.close()

            let count = 30
            for index in 0..<count { try await gut.publish(Self.body(call: "full-\(index)"), messageId: "full-\(index)") }
            try await Self.waitFor("ready to say why") {
                let ready = await gut.admin("/health/ready")
                return ready.status == 503 && ready.body.contains("journal")
            }
            // The gateway has had commands in hand (and failed to record their start) before the
            // absence below means anything.
            try await Self.waitFor("a command delivered while the journal cannot be written") {
                (ProtectionTests.gauge("wmg_commands_received_total", in: await gut.admin("/metrics").body) ?? 0) >= 1
            }
            // Nothing forwarded without its start record, nothing dead-lettered, nothing redelivered.
            #expect(try await Self.changeRequests(gut).isEmpty)
            #expect(try await gut.drainDeadLetters().isEmpty)
            let metrics = await gut.admin("/metrics").body
            #expect(metrics.contains(#"wmg_pipeline_paused{cause="journal"} 1"#))

            try FileManager.default.removeItem(atPath: mount + "/filler")
            let results = try await Self.distinctResults(gut, count, within: 60)
            #expect(results.values.allSatisfy { $0["status"] as? String == "succeeded" })
            // Every command reached OIFDE, never more often than its attempts say, and one sent
            // twice says so (inDoubt: its first answer did not come in time on a loaded machine).
            // An attempt may also be a gettoken that failed (section 4), which sends no change.
            let requests = try await Self.changeRequests(gut).compactMap { $0["commandId"] as? String }
            let sent = Dictionary(grouping: requests, by: { $0 }).mapValues(\.count)
            #expect(Set(sent.keys) == Set(results.keys), "\(sent.count) of \(count) commands reached OIFDE")
            for (id, result) in results {
                let times = sent[id] ?? 0
                #expect(times <= result["attempts"] as? Int ?? 0, "\(id): \(times) requests for \(result["attempts"] ?? "?") attempts")
                if times > 1 { #expect(result["inDoubt"] as? Bool == true, "\(id) was sent \(times) times and must say so: \(result)") }
            }
            #expect(try await gut.drainDeadLetters().isEmpty)
            try await Self.waitFor("ready again") { await gut.admin("/health/ready").status == 200 }
            let logs = gut.allLogs
            #expect(logs.components(separatedBy: "pausing: the completion journal cannot be written").count - 1 == 1, "logged once per change")
            #expect(logs.contains("resuming: the completion journal can be written again"))
        }
    }

    @Test func refusedResultEventsHoldTheCommandInsteadOfRequeueingIt() async throws {
        try await withGateway(
            prepare: { channel, prefix in
                // A downstream consumer's queue that takes three events, then refuses the rest.
                let full = prefix + ".results-full"
                try await channel.declareQueue(full, durable: false, arguments: ["x-max-length": .int64(3), "x-overflow": .string("reject-publish")])
                try await channel.bindQueue(full, exchange: prefix + ".results", routingKey: "#")
            }
        ) { gut in
            let count = 20
            for index in 0..<count { try await gut.publish(Self.body(call: "refused-\(index)"), messageId: "refused-\(index)") }
            try await Self.waitFor("ready to say why") {
                let ready = await gut.admin("/health/ready")
                return ready.status == 503 && ready.body.contains("refuses result events")
            }
            // The queue takes 3 events; the 4th command's is refused and held, with its command.
            try await Self.waitFor("a command forwarded whose result is refused") { try await Self.changeRequests(gut).count >= 4 }
            // Forwarded at most once each, while held; nothing poisoned.
            let held = try await Self.changeRequests(gut).compactMap { $0["commandId"] as? String }
            #expect(Set(held).count == held.count, "a held command was forwarded again: \(held)")
            #expect(try await gut.drainDeadLetters().isEmpty)
            #expect(await gut.admin("/metrics").body.contains(#"wmg_pipeline_paused{cause="publish"} 1"#))

            let cleanup = try await gut.connection.openChannel()
            _ = try await cleanup.deleteQueue(gut.prefix + ".results-full")
            let results = try await Self.distinctResults(gut, count, within: 60)
            #expect(results.values.allSatisfy { $0["status"] as? String == "succeeded" })
            let ids = try await Self.changeRequests(gut).compactMap { $0["commandId"] as? String }
            #expect(ids.count == count, "never forwarded again: \(ids.count) requests for \(count) commands")
            #expect(Set(ids).count == count)
            #expect(try await gut.drainDeadLetters().isEmpty)
            try await Self.waitFor("the queue to empty") { try await gut.commandsQueueDepth() == 0 }
            try await Self.waitFor("ready again") { await gut.admin("/health/ready").status == 200 }
        }
    }

    // MARK: 3. a timeout that bounds

    @Test func aTricklingAnswerIsCutAndTheCallGoesOn() async throws {
        try await withGateway(environment: ["WMG_OIFDE_TIMEOUT": "2s"]) { gut in
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults",
                body: #"{"rawBody":"{\"errorCode\":\"0\",\"errorMsg\":\"one byte at a time\"}","trickleIntervalMs":500,"count":1}"#
            )
            let started = ContinuousClock.now
            try await gut.publish(Self.body(call: "trickle", mode: 2), messageId: "trickle-1")
            try await gut.publish(Self.body(call: "trickle", mode: 1), messageId: "trickle-2")
            let results = try await Self.distinctResults(gut, 2, within: 30)
            let elapsed = ContinuousClock.now - started
            #expect(results["trickle-1"]?["status"] as? String == "succeeded")
            #expect(results["trickle-1"]?["attempts"] as? Int == 2)
            // The cut answer was errorCode 0: the change was applied, and the gateway could not know.
            #expect(results["trickle-1"]?["inDoubt"] as? Bool == true, "\(results["trickle-1"] ?? [:])")
            #expect((results["trickle-1"]?["inDoubtReason"] as? String)?.hasPrefix("attempt 1: no complete answer") == true)
            #expect(results["trickle-2"]?["status"] as? String == "succeeded")
            // The trickle alone takes over 20 s; the 2 s timeout cuts it.
            #expect(elapsed < .seconds(15), "took \(elapsed)")
        }
    }

    // MARK: 4. one journal, one process

    @Test func aSecondGatewayOnTheSameJournalRefusesToStart() async throws {
        try await withGateway { gut in
            let second = try ChildProcess(
                arguments: ["run", "--config", gut.configPath],
                environment: gut.environment.merging(["WMG_ADMIN_LISTEN": "127.0.0.1:\(Harness.freePort(in: 61000...64999))"]) { $1 },
                outputPath: gut.directory + "/second.log"
            )
            let status = await second.waitForExit(timeout: .seconds(20))
            #expect(status == 1)
            #expect(
                second.output.contains(
                    "dedupe.path \(gut.directory)/completions.journal is in use by another gateway (pid \(gut.gateway.process.processIdentifier))"),
                "\(second.output)")
            // The first goes on.
            try await gut.publish(Self.body(call: "still-one"), messageId: "still-one")
            #expect(try await gut.nextResults(1).first?["status"] as? String == "succeeded")
        }
    }

    // MARK: 5. signals

    @Test func hangupAndUserSignalsDoNotStopTheDaemon() async throws {
        try await withGateway { gut in
            for signal in [SIGHUP, SIGUSR1, SIGUSR2] { gut.gateway.signal(signal) }
            #expect(await gut.gateway.waitForOutput("received SIGUSR2: ignored", timeout: .seconds(10)))
            #expect(gut.gateway.process.isRunning)
            #expect(gut.gateway.output.contains("received SIGHUP: ignored"))
            try await gut.publish(Self.body(call: "after-hup"), messageId: "after-hup")
            #expect(try await gut.nextResults(1).first?["status"] as? String == "succeeded")
            gut.gateway.signal(SIGTERM)
            #expect(await gut.gateway.waitForExit(timeout: .seconds(20)) == 0)
        }
    }

    // MARK: 6 and 7. deadlines

    @Test func xDeadlineOfAnotherTypeIsInvalid() async throws {
        try await withGateway { gut in
            let values: [(String, FieldValue)] = [
                ("table", .table(["at": .string("2030-01-01T00:00:00Z")])), ("bool", .bool(true)),
                ("double", .double(Date().timeIntervalSince1970 - 3600)), ("timestamp", .timestamp(UInt64(Date().timeIntervalSince1970) + 3600)),
                ("rolled-over", .string("2027-02-31T00:00:00Z")),
            ]
            for (name, value) in values {
                try await gut.publish(Self.body(call: "deadline-\(name)"), messageId: "deadline-\(name)", headers: ["x-deadline": value])
            }
            let results = try await Self.distinctResults(gut, values.count, within: 30)
            for (name, _) in values {
                let result = results["deadline-\(name)"]
                #expect(result?["status"] as? String == "invalid", "\(name)")
                let errors = result?["errors"] as? [[String: String]] ?? []
                #expect(errors.first?["code"] == "invalid_header", "\(name)")
            }
            #expect(try await Self.changeRequests(gut).isEmpty)
        }
    }

    @Test func aTimestampInTheFutureDoesNotExtendTheDeadline() async throws {
        try await withGateway(environment: ["WMG_RETRY_DEADLINE": "3s"]) { gut in
            _ = try await gut.simulator.control("PUT", "/simulator/faults", body: #"{"httpStatus":503,"retryAfterSeconds":1,"fraction":1.0}"#)
            let started = ContinuousClock.now
            try await gut.publish(Self.body(call: "future"), messageId: "future", timestamp: UInt64(Date().timeIntervalSince1970) + 365 * 86400)
            let result = try #require(try await gut.nextResults(1, within: 30).first)
            #expect(result["status"] as? String == "expired")
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    // MARK: 8. a deleted journal

    @Test func aDeletedJournalIsRecreatedAndKeepsItsCompletions() async throws {
        try await withGateway { gut in
            let journal = gut.directory + "/completions.journal"
            try await gut.publish(Self.body(call: "kept-1", mode: 2), messageId: "kept-1")
            #expect(try await gut.nextResults(1).first?["status"] as? String == "succeeded")
            try FileManager.default.removeItem(atPath: journal)
            // The check runs on the append path at most once a second: commands go until an append
            // has run it (each one succeeds meanwhile, written to the deleted file).
            var kept = ["kept-1"]
            let noticed = ContinuousClock.now + .seconds(30)
            repeat {
                let id = "kept-2-\(kept.count)"
                kept.append(id)
                try await gut.publish(Self.body(call: id, mode: 2), messageId: id)
                #expect(try await gut.nextResults(1).first?["status"] as? String == "succeeded")
            } while !gut.allLogs.contains("the journal file was deleted or replaced") && ContinuousClock.now < noticed
            #expect(gut.allLogs.contains("the journal file was deleted or replaced"))
            try await Self.waitFor("the journal file to be back") { FileManager.default.fileExists(atPath: journal) }
            try await gut.publish(Self.body(call: "kept-3", mode: 2), messageId: "kept-3")
            #expect(try await gut.nextResults(1).first?["status"] as? String == "succeeded")
            kept.append("kept-3")

            gut.gateway.signal(SIGKILL)
            _ = await gut.gateway.waitForExit(timeout: .seconds(10))
            try await gut.restart()
            for id in kept { try await gut.publish(Self.body(call: id, mode: 2), messageId: id) }
            let again = try await Self.distinctResults(gut, kept.count, within: 30)
            #expect(again.values.allSatisfy { $0["status"] as? String == "succeeded" })
            #expect(try await Self.changeRequests(gut).count == kept.count, "none of the \(kept.count) forwarded again")
        }
    }

    // MARK: 9. reasons

    @Test func aDirectoryAsTheJournalIsAConfigurationError() async throws {
        let directory = try Harness.temporaryDirectory()
        let run = try await Subprocess.run(
            Harness.binary, ["run"], environment: ["WMG_DEDUPE_PATH": directory, "WMG_ADMIN_LISTEN": "127.0.0.1:0"], mergeErrors: true
        )
        #expect(run.status == 78)
        #expect(run.output.contains("configuration error: dedupe.path: \(directory) is a directory"), "\(run.output)")
        #expect(!run.output.contains("NSError") && !run.output.contains("Domain="))
    }

    @Test func aRedirectEndsTheCommandRejectedWithTheTargetNamed() async throws {
        try await withGateway { gut in
            _ = try await gut.simulator.control(
                "PUT", "/simulator/faults", body: #"{"httpStatus":301,"rawBody":"","location":"https://moved.example/oifde","fraction":1.0}"#
            )
            try await gut.publish(Self.body(call: "moved"), messageId: "moved")
            let result = try #require(try await gut.nextResults(1, within: 30).first)
            #expect(result["status"] as? String == "rejected")
            #expect(result["attempts"] as? Int == 1)
            #expect(result["reason"] as? String == "OIFDE answered HTTP 301 redirect to https://moved.example/oifde: check oifde.baseURL")
        }
    }
}
