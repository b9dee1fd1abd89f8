import Foundation
import PipelineCore

/// The core's time read from the continuous clock (the one `Task.sleep(for:)` counts on), from
/// an origin fixed when the process first asks.
extension Moment {
    private static let origin = ContinuousClock.now

    /// Now, on the monotonic clock.
    static var now: Moment { Moment(origin.duration(to: ContinuousClock.now)) }

    /// The same point on the continuous clock, to sleep until.
    var instant: ContinuousClock.Instant { Self.origin.advanced(by: .nanoseconds(nanoseconds)) }

    /// The wall-clock time this moment is at, as of now (for a log line).
    var wallClock: Date { Date().addingTimeInterval(timeIntervalSince(.now)) }

    /// `duration` after the origin.
    private init(_ duration: Duration) {
        self = Moment(nanoseconds: 0).adding(duration)
    }
}
