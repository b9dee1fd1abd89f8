import Foundation
import Logging
import OIFDEClient
import PipelineCore
import Testing
import WorkModeDomain

@testable import Gateway

/// The waits a drain may have to cut short: a lane behind a slow command, a slot while all are
/// taken. Cancelling the waiting task must end the wait at once and leave the structure usable.
@Suite(.timeLimit(.minutes(10))) struct CancellableWaitTests {
    @Test func aCancelledLaneWaitReturnsAtOnceAndKeepsTheOrderOfTheRest() async throws {
        let lanes = LaneBookDriver()
        let head = lanes.register("t/c")
        let cancelled = lanes.register("t/c")
        let third = lanes.register("t/c")
        #expect(await head.waitForTurn())
        let waiter = Task { await cancelled.waitForTurn() }
        waiter.cancel()
        #expect(await waiter.value == false)
        // The cancelled one leaves; the head leaving must still let the third through.
        lanes.leave(cancelled)
        let thirdTurn = Task { await third.waitForTurn() }
        lanes.leave(head)
        #expect(await thirdTurn.value)
        lanes.leave(third)
        #expect(lanes.waitingLanes == 0)
    }

    @Test func aTaskCancelledBeforeItWaitsDoesNotWait() async {
        let lanes = LaneBookDriver()
        _ = lanes.register("k")
        let second = lanes.register("k")
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await second.waitForTurn()
        }
        #expect(await waiter.value == false)
    }

    static func control(limit: Int, breaker: Bool = false) -> AdmissionDriver {
        AdmissionDriver(
            settings: .init(
                maxInFlight: limit,
                breaker: breaker
                    ? .init(failureRate: 0.5, minimumRequests: 2, window: .seconds(10), openFor: .seconds(60), maxOpenFor: .seconds(60)) : nil),
            logger: Logger(label: "test"), metrics: GatewayMetrics())
    }

    static let later = Moment.now.addingTimeInterval(3600)

    static func grant(_ answer: AdmissionDriver.Answer) -> Admission<UInt64>.Grant? {
        if case .granted(let grant) = answer { return grant }
        return nil
    }

    @Test func aCancelledSlotWaitHoldsNoSlotAndLaterWaitersStillGetOne() async throws {
        let control = Self.control(limit: 1)
        let first = try #require(
            Self.grant(await control.acquire(command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later)))
        let cancelled = Task {
            await control.acquire(command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later)
        }
        let next = Task { await control.acquire(command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later) }
        // Both queued behind the held slot.
        while control.waitingCount < 2 { await Task.yield() }
        cancelled.cancel()
        guard case .cancelled = await cancelled.value else {
            Issue.record("a cancelled wait answers cancelled")
            return
        }
        control.finished(first, attempt: nil)
        let second = try #require(Self.grant(await next.value), "the slot goes past the cancelled waiter")
        #expect(control.inUse == 1)
        control.finished(second, attempt: nil)
        #expect(control.inUse == 0)
    }

    @Test func aWaitEndsAtTheDeadlineSayingWhetherTheCircuitWasOpen() async throws {
        let control = Self.control(limit: 1)
        let held = try #require(
            Self.grant(await control.acquire(command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later)))
        let waited = await control.acquire(
            command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Moment.now.addingTimeInterval(0.2))
        guard case .deadlinePassed(let circuitOpen) = waited else {
            Issue.record("the deadline ends the wait: \(waited)")
            return
        }
        #expect(!circuitOpen && control.waitingCount == 0)
        control.finished(held, attempt: nil)

        let breaking = Self.control(limit: 4, breaker: true)
        let failed = OIFDEAttempt(exchange: .answered(AttemptResult(httpStatus: 503)), duration: .milliseconds(1), refreshedToken: false)
        for _ in 0..<2 {
            let grant = try #require(
                Self.grant(await breaking.acquire(command: breaking.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later))
            )
            breaking.finished(grant, attempt: failed)
        }
        #expect(breaking.circuitState == .open)
        guard
            case .deadlinePassed(true) = await breaking.acquire(
                command: breaking.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Moment.now.addingTimeInterval(0.2))
        else {
            Issue.record("the open circuit held it until its deadline")
            return
        }
    }

    @Test func manyCancellationsRacingReleasesNeverLoseOrDuplicateASlot() async throws {
        let control = Self.control(limit: 4)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask {
                    let waiter = Task {
                        guard
                            case .granted(let grant) = await control.acquire(
                                command: control.commandNumber(), since: .now, tenant: "t\(index % 5)", batch: index % 2 == 0, deadline: Self.later)
                        else { return }
                        await Task.yield()
                        control.finished(grant, attempt: nil)
                    }
                    if index % 3 == 0 { waiter.cancel() }
                    await waiter.value
                }
            }
        }
        #expect(control.inUse == 0)
        for _ in 0..<4 {
            _ = try #require(
                Self.grant(await control.acquire(command: control.commandNumber(), since: .now, tenant: "t1", batch: false, deadline: Self.later)))
        }
        #expect(control.inUse == 4)
    }
}
