import Testing

@testable import Gateway

/// The waits a drain may have to cut short: a lane behind a slow command, a slot while all are
/// taken. Cancelling the waiting task must end the wait at once and leave the structure usable.
@Suite struct CancellableWaitTests {
    @Test func aCancelledLaneWaitReturnsAtOnceAndKeepsTheOrderOfTheRest() async throws {
        let lanes = Lanes()
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
        let lanes = Lanes()
        _ = lanes.register("k")
        let second = lanes.register("k")
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await second.waitForTurn()
        }
        #expect(await waiter.value == false)
    }

    @Test func aCancelledSlotWaitHoldsNoSlotAndLaterWaitersStillGetOne() async throws {
        let limiter = InFlightLimiter(limit: 1)
        #expect(await limiter.acquire())
        let cancelled = Task { await limiter.acquire() }
        let next = Task { await limiter.acquire() }
        // Both queued behind the held slot.
        while limiter.waitingCount < 2 { await Task.yield() }
        cancelled.cancel()
        #expect(await cancelled.value == false)
        limiter.release()
        #expect(await next.value, "the slot goes past the cancelled waiter")
        #expect(limiter.inUse == 1)
        limiter.release()
        #expect(limiter.inUse == 0)
    }

    @Test func manyCancellationsRacingReleasesNeverLoseOrDuplicateASlot() async {
        let limiter = InFlightLimiter(limit: 4)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask {
                    let waiter = Task {
                        guard await limiter.acquire() else { return }
                        await Task.yield()
                        limiter.release()
                    }
                    if index % 3 == 0 { waiter.cancel() }
                    await waiter.value
                }
            }
        }
        #expect(limiter.inUse == 0)
        for _ in 0..<4 { #expect(await limiter.acquire()) }
        #expect(limiter.inUse == 4)
    }
}
