import Testing

@testable import Gateway

/// `/proc/self/stat` parsing for the `process_*` metrics (proc(5)).
@Suite(.timeLimit(.minutes(10))) struct ProcessMetricsTests {
    // A real line's layout, with a command name that holds a space and a parenthesis.
    static let line =
        "4242 (work) mode) S 1 4242 4242 0 -1 4194560 2561 0 0 0 150 50 0 0 20 0 9 0 123400 912345088 4096 18446744073709551615 1 1 0 0 0 0 0 4096 17475 0 0 0 17 1 0 0 0 0 0"

    @Test func fieldsAreCountedFromTheLastParenthesis() throws {
        let stat = try #require(ProcStat.parse(Self.line, ticksPerSecond: 100, pageSize: 4096, bootTime: 1_700_000_000))
        #expect(stat.cpuSeconds == 2.0)  // (150 + 50) ticks / 100
        #expect(stat.virtualBytes == 912_345_088)
        #expect(stat.residentBytes == 4096 * 4096)
        #expect(stat.startTimeSeconds.map { $0 - 1_700_001_234 } == 0, "\(String(describing: stat.startTimeSeconds))")
    }

    @Test func aTruncatedLineOrNoBootTimeGivesWhatItCan() {
        #expect(ProcStat.parse("4242 (x) S 1 2 3", ticksPerSecond: 100, pageSize: 4096, bootTime: 1) == nil)
        #expect(ProcStat.parse(Self.line, ticksPerSecond: 100, pageSize: 4096, bootTime: nil)?.startTimeSeconds == nil)
        #expect(ProcStat.bootTime(fromProcStat: "cpu 1 2 3\nbtime 1700000000\nprocesses 9\n") == 1_700_000_000)
        #expect(ProcStat.bootTime(fromProcStat: "cpu 1 2 3\n") == nil)
    }

    @Test func thisProcessReadsBack() throws {
        let stat = try #require(ProcStat.read())
        #expect(stat.residentBytes > 0 && stat.virtualBytes >= stat.residentBytes)
    }
}
