import PipelineCore
import Testing

/// The core's monotonic time: exact in nanoseconds, and never trapping at its ends.
@Suite(.timeLimit(.minutes(10))) struct MomentTests {
    @Test func secondsAndDurationsMeetOnTheSameNanosecond() {
        let t0 = Moment(seconds: 1_764_064_800)
        #expect(t0.addingTimeInterval(1.9) == Moment(nanoseconds: 1_764_064_801_900_000_000))
        #expect(t0.adding(.milliseconds(1900)) == t0.addingTimeInterval(1.9))
        #expect(t0.addingTimeInterval(5).addingTimeInterval(10) == t0.addingTimeInterval(15))
        #expect(t0.addingTimeInterval(2.5).timeIntervalSince(t0) == 2.5)
        #expect(t0.timeIntervalSince(t0.addingTimeInterval(2.5)) == -2.5)
        #expect(t0.adding(.microseconds(1500)).duration(since: t0) == .microseconds(1500))
        #expect(t0.adding(.seconds(-3)) < t0)
    }

    @Test func theEndsOrderAroundClockReadingsAndArithmeticClampsInsteadOfTrapping() {
        #expect(Moment.distantPast < Moment(seconds: 0) && Moment(seconds: 1_764_064_800) < Moment.distantFuture)
        #expect(Moment(seconds: .infinity) == .distantFuture && Moment(seconds: -.infinity) == .distantPast)
        #expect(Moment(nanoseconds: .max - 1).adding(.seconds(10)) == Moment(nanoseconds: .max))
        #expect(Moment(nanoseconds: .min + 1).addingTimeInterval(-10) == Moment(nanoseconds: .min))
        #expect(Moment(nanoseconds: .max).duration(since: Moment(nanoseconds: .min)) == .nanoseconds(Int64.max))
        #expect(Moment(nanoseconds: .max).timeIntervalSince(Moment(nanoseconds: .min)) > 1.8e10, "2^64 ns, in seconds")
    }
}
