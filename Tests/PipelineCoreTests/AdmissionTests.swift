import PipelineCore
import Testing

/// Per-call lanes and in-flight slots, without tasks: the rules the shell's waits follow.
@Suite struct AdmissionTests {
    @Test func aLaneRunsItsCommandsOneAfterAnotherInJoinOrder() {
        var lanes = LaneBook<Int>()
        let joined = [lanes.join(1, lane: "t1/a"), lanes.join(2, lane: "t1/a"), lanes.join(3, lane: "t1/a"), lanes.join(4, lane: "t1/b")]
        #expect(joined == [true, false, false, true], "the head runs; another call runs in parallel")
        #expect(lanes.lanesWithWaiters == 1)
        // One that gave up waiting leaves without waking anyone; the head's leaving wakes the next.
        let woken = [lanes.leave(2, lane: "t1/a"), lanes.leave(1, lane: "t1/a"), lanes.leave(3, lane: "t1/a"), lanes.leave(4, lane: "t1/b")]
        #expect(woken == [nil, 3, nil, nil])
        #expect(lanes.count == 0 && lanes.lanesWithWaiters == 0)
        let again = lanes.leave(9, lane: "t1/a")
        #expect(again == nil, "leaving twice is harmless")
    }

    @Test func slotsAreGrantedUpToTheLimitThenInArrivalOrder() {
        var slots = SlotBook<Int>(limit: 2)
        let granted = (1...5).map { slots.request($0) }
        #expect(granted == [true, true, false, false, false])
        #expect(slots.inUse == 2 && slots.waiting == 3)
        let withdrawn = [slots.withdraw(4), slots.withdraw(4)]
        #expect(withdrawn == [true, false], "a cancelled waiter leaves the line once")
        let served = [slots.release(), slots.release(), slots.release(), slots.release()]
        #expect(served == [3, 5, nil, nil], "the withdrawn one is skipped")
        #expect(slots.inUse == 0 && slots.available == 2)
        let holder = slots.withdraw(1)
        #expect(!holder, "a granted slot cannot be withdrawn, only released")
    }

    /// Random joins, leaves, requests, withdrawals and releases: a lane never has two commands
    /// running, each lane wakes in join order, slots in use never pass the limit, waiters are
    /// served in arrival order, and a withdrawn waiter is never served.
    @Test func randomInterleavingsKeepOrderAndLimits() {
        var random = SplitMix64(state: 99)
        for _ in 0..<300 {
            var lanes = LaneBook<Int>()
            var slots = SlotBook<Int>(limit: Int(random.next() % 4) + 1)
            var running: [String: Int] = [:]
            var waitingInLane: [String: [Int]] = [:]
            var holders = Set<Int>()
            var line: [Int] = []
            var next = 0
            for _ in 0..<200 {
                let lane = "call-\(random.next() % 4)"
                switch random.next() % 5 {
                case 0:
                    next += 1
                    if lanes.join(next, lane: lane) {
                        #expect(running[lane] == nil, "one running per lane")
                        running[lane] = next
                    } else {
                        waitingInLane[lane, default: []].append(next)
                    }
                case 1:
                    guard let head = running[lane] else { continue }
                    let woken = lanes.leave(head, lane: lane)
                    #expect(woken == waitingInLane[lane]?.first, "the lane wakes its next in join order")
                    running[lane] = woken
                    if woken != nil { waitingInLane[lane]?.removeFirst() }
                case 2:
                    next += 1
                    if slots.request(next) { holders.insert(next) } else { line.append(next) }
                    #expect(holders.count <= slots.limit)
                case 3:
                    guard let leaving = line.randomElement(using: &random) else { continue }
                    let withdrawn = slots.withdraw(leaving)
                    #expect(withdrawn)
                    line.removeAll { $0 == leaving }
                default:
                    guard let holder = holders.first else { continue }
                    holders.remove(holder)
                    if let served = slots.release() {
                        #expect(served == line.first, "served in arrival order, never a withdrawn one")
                        line.removeFirst()
                        holders.insert(served)
                    }
                }
            }
            #expect(slots.inUse == holders.count && slots.waiting == line.count)
        }
    }
}
