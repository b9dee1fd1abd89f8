import Dispatch
import Foundation
import Testing

@testable import Gateway

/// The completion journal on its own: what survives a reopen, a torn tail, corruption, the
/// capacity, the TTL and compaction.
@Suite(.timeLimit(.minutes(10))) struct CompletionJournalTests {
    let directory: String
    var path: String { directory + "/completions.journal" }

    init() throws { directory = try Harness.temporaryDirectory() }

    func completion(_ n: Int) -> JournalCompletion {
        JournalCompletion(status: "succeeded", event: Array(#"{"commandId":"c-\#(n)"}"#.utf8), deadLetter: nil)
    }

    func lineCount() throws -> Int {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
    }

    @Test func startAndCompletionSurviveAReopen() throws {
        do {
            let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
            try journal.recordStart("a")
            try journal.recordStart("b")
            try journal.recordCompletion(
                "b",
                JournalCompletion(
                    status: "invalid", event: [1, 2, 3],
                    deadLetter: [.init(key: "x-error-class", string: "in\"valid\n", int: nil), .init(key: "x-attempts", string: nil, int: 5)]
                ))
            #expect(journal.lookup("a") == .inDoubt)
            #expect(journal.lookup("never") == .unknown)
        }
        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        #expect(reopened.droppedAtLoad == 0)
        #expect(reopened.lookup("a") == .inDoubt)
        guard case .completed(let stored) = reopened.lookup("b") else {
            Issue.record("b should be completed")
            return
        }
        #expect(stored.status == "invalid")
        #expect(stored.event == [1, 2, 3])
        #expect(stored.deadLetter == [.init(key: "x-error-class", string: "in\"valid\n", int: nil), .init(key: "x-attempts", string: nil, int: 5)])
    }

    @Test func aTornTailIsDroppedAndCutSoNewRecordsStartOnACleanLine() throws {
        do {
            let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
            try journal.recordCompletion("done", completion(1))
        }
        // The process died in the middle of writing a record: no newline, no valid checksum.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Array("3735928559 {\"kind\":\"S\",\"id\":\"tor".utf8))
        try handle.close()

        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        #expect(reopened.droppedAtLoad == 1)
        #expect(reopened.lookup("done") == .completed(completion(1)))
        #expect(reopened.lookup("tor") == .unknown)
        try reopened.recordStart("after")

        let again = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        #expect(again.droppedAtLoad == 0, "the torn bytes were cut, so nothing is dropped twice")
        #expect(again.lookup("after") == .inDoubt)
        #expect(again.lookup("done") == .completed(completion(1)))
    }

    @Test func aCorruptRecordIsDroppedAndTheOthersKept() throws {
        do {
            let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
            for n in 0..<3 { try journal.recordCompletion("c-\(n)", completion(n)) }
        }
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // One flipped character in the middle record: its checksum no longer matches.
        lines[1] = lines[1].replacingOccurrences(of: "c-1", with: "c-9")
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)

        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        #expect(reopened.droppedAtLoad == 1)
        #expect(reopened.lookup("c-0") == .completed(completion(0)))
        #expect(reopened.lookup("c-1") == .unknown)
        #expect(reopened.lookup("c-9") == .unknown)
        #expect(reopened.lookup("c-2") == .completed(completion(2)))
    }

    @Test func capacityForgetsTheOldestFirst() throws {
        let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 10, ttl: .seconds(3600))
        for n in 0..<30 { try journal.recordCompletion("c-\(n)", completion(n)) }
        #expect(journal.count == 10)
        #expect(journal.lookup("c-19") == .unknown)
        #expect(journal.lookup("c-20") == .completed(completion(20)))
        #expect(journal.lookup("c-29") == .completed(completion(29)))
    }

    @Test func entriesOlderThanTheTTLAreForgotten() throws {
        let start = Date()
        let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(60), now: start)
        try journal.recordCompletion("old", completion(1), now: start)
        try journal.recordCompletion("new", completion(2), now: start.addingTimeInterval(50))
        let later = start.addingTimeInterval(90)
        #expect(journal.lookup("old", now: later) == .unknown)
        #expect(journal.lookup("new", now: later) == .completed(completion(2)))
        // And at load: the expired entry is not brought back.
        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(60), now: later)
        #expect(reopened.count == 1)
    }

    @Test func compactionBoundsTheFileAndKeepsTheLiveEntries() throws {
        let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        // Start + completion per command: 2,400 records for 1,200 commands, past the compaction
        // threshold (twice the capacity, at least 1,024 records) more than once.
        for n in 0..<1200 {
            try journal.recordStart("c-\(n)")
            try journal.recordCompletion("c-\(n)", completion(n))
        }
        let lines = try lineCount()
        #expect(lines <= 1024 + 2, "the file holds \(lines) records")
        try journal.recordStart("after-compaction")
        #expect(try lineCount() == lines + 1, "an append after compaction only appends")
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
        // Stored results are read back from the compacted file at their new places.
        #expect(journal.lookup("c-1199") == .completed(completion(1199)))
        #expect(journal.lookup("c-1150") == .completed(completion(1150)))
        // Writes after a compaction go to the new file.
        try journal.recordStart("last")
        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600))
        #expect(reopened.droppedAtLoad == 0)
        #expect(reopened.count == 100)
        #expect(reopened.lookup("last") == .inDoubt)
        #expect(reopened.lookup("c-1199") == .completed(completion(1199)))
        #expect(reopened.lookup("c-0") == .unknown)
    }

    /// A compacted file holds one record per live command: with a start and a completion each it
    /// sat at the threshold itself, and every later append compacted again (a 20 s stall in the
    /// soak at the default capacity).
    @Test func aFullJournalDoesNotCompactOnEveryAppend() throws {
        let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 1000, ttl: .seconds(3600))
        for n in 0..<1100 {
            try journal.recordStart("c-\(n)")
            try journal.recordCompletion("c-\(n)", completion(n))
        }
        func inode() throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        }
        let before = try inode()
        for n in 1100..<1110 { try journal.recordStart("c-\(n)") }
        #expect(try inode() == before, "appends went to the same file, no compaction in between")
        #expect(journal.lookup("c-1099") == .completed(completion(1099)))
    }

    /// The index keeps 64-bit hashes of IDs, not the IDs: two IDs on one key must never share an
    /// outcome, whether the entry holds a start or a completion, before and after a reopen.
    @Test func idsThatShareAKeyNeverShareAnOutcome() throws {
        let sameKey: @Sendable (String) -> UInt64 = { _ in 42 }
        do {
            let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600), key: sameKey)
            try journal.recordStart("first")
            #expect(journal.lookup("first") == .inDoubt)
            #expect(journal.lookup("second") == .unknown, "a start of another ID is not this one's")
            try journal.recordCompletion("first", completion(1))
            #expect(journal.lookup("second") == .unknown, "nor is its completion")
            #expect(journal.lookup("first") == .completed(completion(1)))
            // The later ID takes the key over; the earlier one is forgotten, never mistaken.
            try journal.recordCompletion("second", completion(2))
            #expect(journal.lookup("second") == .completed(completion(2)))
            #expect(journal.lookup("first") == .unknown)
        }
        let reopened = try CompletionJournal(compaction: .inline, path: path, capacity: 100, ttl: .seconds(3600), key: sameKey)
        #expect(reopened.lookup("second") == .completed(completion(2)))
        #expect(reopened.lookup("first") == .unknown)
    }

    /// A start after a completion (the forward repeated while in doubt) leaves the completion
    /// deciding, in memory, after a reopen and after compaction.
    @Test func aLaterStartDoesNotHideACompletion() throws {
        do {
            let journal = try CompletionJournal(compaction: .inline, path: path, capacity: 600, ttl: .seconds(3600))
            try journal.recordStart("x")
            try journal.recordCompletion("x", completion(7))
            try journal.recordStart("x")
            #expect(journal.lookup("x") == .completed(completion(7)))
            // Past the compaction threshold (1,200 records for a capacity of 600).
            for n in 0..<1300 { try journal.recordStart("filler-\(n)") }
            #expect(try lineCount() < 1300)
            #expect(journal.lookup("x") == .unknown, "evicted: the capacity is 600")
        }
        do {
            // 600 commands, 1,201 records: one past the threshold, nothing evicted.
            let journal = try CompletionJournal(compaction: .inline, path: path + "-2", capacity: 600, ttl: .seconds(3600))
            try journal.recordStart("y")
            try journal.recordCompletion("y", completion(8))
            try journal.recordStart("y")
            for n in 0..<599 {
                try journal.recordStart("filler-\(n)")
                try journal.recordCompletion("filler-\(n)", completion(n))
            }
            let lines = try String(contentsOfFile: path + "-2", encoding: .utf8).split(separator: "\n").count
            #expect(lines == 600, "compacted to one record per command")
            #expect(journal.lookup("y") == .completed(completion(8)), "kept through compaction")
        }
        let reopened = try CompletionJournal(compaction: .inline, path: path + "-2", capacity: 600, ttl: .seconds(3600))
        #expect(reopened.lookup("y") == .completed(completion(8)))
    }

    /// Compaction runs beside the appends: records written while it copies are in the new file,
    /// in order (a completion for a command the snapshot had only started, new commands that
    /// evict old ones), in memory and after a reopen.
    @Test func recordsAppendedDuringABackgroundCompactionAreKept() throws {
        let copied = DispatchSemaphore(value: 0)
        let goOn = DispatchSemaphore(value: 0)
        let journal = try CompletionJournal(
            compaction: .backgroundPausing({
                copied.signal()
                goOn.wait()
            }),
            path: path, capacity: 600, ttl: .seconds(3600)
        )
        for n in 0..<600 {
            try journal.recordStart("c-\(n)")
            try journal.recordCompletion("c-\(n)", completion(n))
        }
        // Record 1,201: past the threshold, the compaction starts (and c-0 leaves the index).
        try journal.recordStart("trigger")
        #expect(copied.wait(timeout: .now() + 10) == .success, "the compaction copied its snapshot")
        try journal.recordCompletion("trigger", completion(9999))
        for n in 0..<10 { try journal.recordStart("during-\(n)") }
        goOn.signal()
        #expect(journal.waitForCompaction())
        #expect(journal.compactions == 1)
        #expect(try lineCount() == 600 + 11, "the snapshot's 600 live commands, then the 11 records appended meanwhile")
        for reader in [journal, try CompletionJournal(compaction: .inline, path: path, capacity: 600, ttl: .seconds(3600))] {
            #expect(reader.lookup("trigger") == .completed(completion(9999)))
            #expect(reader.lookup("during-9") == .inDoubt)
            #expect(reader.lookup("c-599") == .completed(completion(599)))
            #expect(reader.lookup("c-11") == .completed(completion(11)))
            #expect(reader.lookup("c-10") == .unknown, "evicted by the ten appended during the compaction")
            #expect(reader.count == 600)
        }
    }
}
