import PropertyBased
import Testing

@testable import AMQP

@Suite(.timeLimit(.minutes(10))) struct AckCoalescerTests {
    typealias Request = (tag: UInt64, kind: ConnectionCore.Acknowledgement)

    static func acks(_ tags: UInt64...) -> [Request] { tags.map { ($0, .ack(multiple: false)) } }

    @Test func aRunFromTheLowestTagBecomesOneMultipleAck() {
        var coalescer = AckCoalescer()
        #expect(coalescer.frames(for: Self.acks(3, 1, 2, 4)) == [.ack(tag: 4, multiple: true)])
        #expect(coalescer.lowestUnsettled == 5)
    }

    @Test func tagsAboveAGapGoOneByOneAndJoinTheRunOnceTheGapCloses() {
        var coalescer = AckCoalescer()
        // 1 is still being processed: nothing may cover it.
        #expect(coalescer.frames(for: Self.acks(2, 3)) == [.ack(tag: 2, multiple: false), .ack(tag: 3, multiple: false)])
        // 1 arrives: 2 and 3 are settled already, so the frame names 1 itself, never 3 (RabbitMQ
        // closes the channel when a multiple ack's own tag is no longer unacked).
        #expect(coalescer.frames(for: Self.acks(1)) == [.ack(tag: 1, multiple: false)])
        #expect(coalescer.frames(for: Self.acks(4, 6, 5)) == [.ack(tag: 6, multiple: true)])
    }

    @Test func aMultipleAckNeverCoversANackedTag() {
        var coalescer = AckCoalescer()
        let batch: [Request] = [(1, .ack(multiple: false)), (2, .nack(multiple: false, requeue: true)), (3, .ack(multiple: false))]
        // The nack goes first, so when the multiple ack arrives tag 2 is no longer unacked.
        #expect(coalescer.frames(for: batch) == [.nack(tag: 2, multiple: false, requeue: true), .ack(tag: 3, multiple: true)])
    }

    @Test func aTagAckedTwiceInOneBatchIsSentOnce() {
        var coalescer = AckCoalescer()
        #expect(coalescer.frames(for: Self.acks(5, 5)) == [.ack(tag: 5, multiple: false)])
        #expect(coalescer.frames(for: Self.acks(1, 1)) == [.ack(tag: 1, multiple: false)])
    }

    @Test func pastTheMemoryLimitEveryAckGoesAlone() {
        var coalescer = AckCoalescer(memoryLimit: 3)
        // Tag 1 is never settled (a dropped delivery): every later tag waits above it.
        _ = coalescer.frames(for: Self.acks(2, 3, 4, 5))
        #expect(!coalescer.isCoalescing)
        #expect(coalescer.frames(for: Self.acks(7, 6)) == [.ack(tag: 7, multiple: false), .ack(tag: 6, multiple: false)])
    }

    /// Random deliveries settled in random order and random batches, replayed against a model of
    /// the broker's unacked list: every frame is valid (a frame's own tag is unacked), every
    /// delivery ends with the disposition its consumer asked for, and a run of acks takes fewer
    /// frames than acks.
    @Test func randomBatchesSettleEveryDeliveryAsAskedWithValidFrames() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var random = SplitMix64(seed: seed)
            let count = 1 + Int(random.next() % 300)
            var order = Array(UInt64(1)...UInt64(count))
            order.shuffle(using: &random)
            // Some deliveries are never settled (a cancelled consumer's), some are nacked.
            var asked: [UInt64: ConnectionCore.Acknowledgement] = [:]
            var requests: [Request] = []
            for tag in order {
                let kind: ConnectionCore.Acknowledgement
                switch random.next() % 20 {
                case 0: continue
                case 1: kind = .nack(multiple: false, requeue: true)
                case 2: kind = .reject(requeue: false)
                default: kind = .ack(multiple: false)
                }
                asked[tag] = kind
                requests.append((tag, kind))
            }
            var broker = BrokerModel(count: count)
            var coalescer = AckCoalescer()
            var frames = 0
            var start = 0
            while start < requests.count {
                let size = 1 + Int(random.next() % 40)
                let batch = Array(requests[start..<min(requests.count, start + size)])
                start += size
                for frame in coalescer.frames(for: batch) {
                    frames += 1
                    let valid = broker.apply(frame)
                    #expect(valid, "frame \(frame) names a tag that is not unacked (seed \(seed))")
                }
            }
            for tag in UInt64(1)...UInt64(count) {
                #expect(broker.disposition[tag] == asked[tag].map(BrokerModel.Disposition.init), "tag \(tag), seed \(seed)")
            }
            #expect(frames <= requests.count)
        }
    }

    struct BrokerModel {
        enum Disposition: Equatable {
            case acked, requeued, dropped
            init(_ kind: ConnectionCore.Acknowledgement) {
                switch kind {
                case .ack: self = .acked
                case .nack(_, let requeue), .reject(let requeue): self = requeue ? .requeued : .dropped
                }
            }
        }
        var unacked: Set<UInt64>
        var disposition: [UInt64: Disposition] = [:]
        init(count: Int) { unacked = Set(UInt64(1)...UInt64(count)) }

        mutating func apply(_ frame: AckCoalescer.Frame) -> Bool {
            let (tag, multiple, outcome): (UInt64, Bool, Disposition)
            switch frame {
            case .ack(let t, let m): (tag, multiple, outcome) = (t, m, .acked)
            case .nack(let t, let m, let requeue): (tag, multiple, outcome) = (t, m, requeue ? .requeued : .dropped)
            case .reject(let t, let requeue): (tag, multiple, outcome) = (t, false, requeue ? .requeued : .dropped)
            }
            guard unacked.contains(tag) else { return false }
            for settled in multiple ? unacked.filter({ $0 <= tag }) : [tag] {
                unacked.remove(settled)
                disposition[settled] = outcome
            }
            return true
        }
    }
}
