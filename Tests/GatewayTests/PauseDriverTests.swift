import Logging
import PipelineCore
import Synchronization
import Testing

@testable import Gateway

/// Deliveries waiting out a pause are woken by its end and by a stop, not by a polling timer: the
/// recheck here is an hour, so a wait that ends at all was woken.
@Suite(.timeLimit(.minutes(2))) struct PauseDriverTests {
    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .sequentiallyConsistent) }
        var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    }

    static func waiting(_ driver: PauseDriver, stop: @escaping @Sendable () -> Bool) -> (task: Task<Void, Never>, ended: Flag) {
        let ended = Flag()
        let task = Task {
            await driver.waitWhilePaused(recheck: .seconds(3600), stop: stop)
            ended.set()
        }
        return (task, ended)
    }

    static func eventually(_ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    @Test func theLastReleaseWakesTheWaitingDeliveries() async {
        let driver = PauseDriver(logger: Logger(label: "test"))
        driver.hold(.journal, detail: "EIO")
        driver.hold(.publish, detail: "nacked")
        let waits = (0..<3).map { _ in Self.waiting(driver) { false } }
        #expect(await Self.eventually { driver.waitingCount == 3 })
        driver.release(FaultRetry.Release(cause: .journal, recovered: true))
        #expect(driver.waitingCount == 3, "still paused for the broker: nobody woken")
        driver.release(FaultRetry.Release(cause: .publish, recovered: true))
        #expect(driver.waitingCount == 0)
        #expect(await Self.eventually { waits.allSatisfy(\.ended.isSet) }, "every wait ended with the pause")
    }

    @Test func aStopWakesTheWaitingDeliveriesWhileThePauseLasts() async {
        let driver = PauseDriver(logger: Logger(label: "test"))
        driver.hold(.journal, detail: "EIO")
        let stopping = Flag()
        let wait = Self.waiting(driver) { stopping.isSet }
        #expect(await Self.eventually { driver.waitingCount == 1 })
        stopping.set()
        driver.wakeWaiters()
        #expect(await Self.eventually { wait.ended.isSet })
        #expect(driver.isPaused, "the pause itself goes on")
    }

    @Test func withoutAPauseNothingWaits() async {
        let driver = PauseDriver(logger: Logger(label: "test"))
        let wait = Self.waiting(driver) { false }
        await wait.task.value
        #expect(wait.ended.isSet && driver.waitingCount == 0)
    }
}
