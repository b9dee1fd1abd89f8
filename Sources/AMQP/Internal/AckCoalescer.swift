/// Turns the acknowledgements a channel's consumers submitted since the connection thread last
/// looked into as few frames as the protocol allows.
///
/// A `basic.ack` with `multiple` settles every unsettled delivery up to its tag, so one frame can
/// replace a run of plain acks, but only when every tag from the lowest unsettled one up to the
/// run's end is either acked in this batch or was settled before. Commands finish out of order
/// (retries, lanes), so the tracker remembers which tags above the lowest unsettled one are
/// already settled. A tag it never hears of (a delivery dropped for a cancelled consumer, a
/// `basic.get` on the same channel) simply stops runs from passing it: correctness never depends
/// on coalescing, only the frame count does.
///
/// Owner thread only. Pure, so the rules are tested without a broker.
struct AckCoalescer {
    enum Frame: Equatable {
        case ack(tag: UInt64, multiple: Bool)
        case nack(tag: UInt64, multiple: Bool, requeue: Bool)
        case reject(tag: UInt64, requeue: Bool)
    }

    /// The lowest delivery tag not known to be settled (delivery tags start at 1 on each channel).
    private(set) var lowestUnsettled: UInt64 = 1
    /// Settled tags above `lowestUnsettled`.
    private var settledAbove: Set<UInt64> = []
    /// Past this many remembered tags (a delivery that is never settled holds every later one
    /// here), the tracker gives up and passes acknowledgements through one frame each.
    let memoryLimit: Int
    private(set) var isCoalescing = true

    init(memoryLimit: Int = 65_536) { self.memoryLimit = memoryLimit }

    /// The frames for one batch, in the order they must be sent. Nacks, rejects and acks with
    /// `multiple` keep their relative order; plain acks go last, as one multiple ack for the run
    /// that starts at the lowest unsettled tag and single acks for the rest.
    mutating func frames(for batch: [(tag: UInt64, kind: ConnectionCore.Acknowledgement)]) -> [Frame] {
        var frames: [Frame] = []
        var plainAcks: [UInt64] = []
        for request in batch {
            switch request.kind {
            case .ack(let multiple) where !multiple && isCoalescing:
                plainAcks.append(request.tag)
            case .ack(let multiple):
                frames.append(.ack(tag: request.tag, multiple: multiple))
                settle(request.tag, multiple: multiple)
            case .nack(let multiple, let requeue):
                frames.append(.nack(tag: request.tag, multiple: multiple, requeue: requeue))
                settle(request.tag, multiple: multiple)
            case .reject(let requeue):
                frames.append(.reject(tag: request.tag, requeue: requeue))
                settle(request.tag, multiple: false)
            }
        }
        guard !plainAcks.isEmpty else { return frames }
        plainAcks.sort()
        // The run: tags from the lowest unsettled one up, each acked now or settled before.
        var index = 0
        var runEnd: UInt64 = lowestUnsettled - 1
        var lastAckedInRun: UInt64 = 0
        var ackedInRun = 0
        while true {
            let next = runEnd + 1
            // A tag acked twice in one batch is the caller's mistake; the broker would close the
            // channel for the second one, so it is sent once.
            while index < plainAcks.count, plainAcks[index] < next { index += 1 }
            if index < plainAcks.count, plainAcks[index] == next {
                ackedInRun += 1
                lastAckedInRun = next
                index += 1
            } else if settledAbove.remove(next) == nil {
                break
            }
            runEnd = next
        }
        // The frame names the highest tag acked now, never one settled before: RabbitMQ closes the
        // channel ("unknown delivery tag") when a multiple ack's own tag is no longer unacked.
        if ackedInRun > 0 {
            frames.append(.ack(tag: lastAckedInRun, multiple: ackedInRun > 1 || lastAckedInRun > lowestUnsettled))
        }
        lowestUnsettled = runEnd + 1
        var previous: UInt64 = 0
        for tag in plainAcks[index...] where tag != previous && tag >= lowestUnsettled && !settledAbove.contains(tag) {
            frames.append(.ack(tag: tag, multiple: false))
            settledAbove.insert(tag)
            previous = tag
        }
        giveUpIfTooLarge()
        return frames
    }

    private mutating func settle(_ tag: UInt64, multiple: Bool) {
        if multiple {
            if tag >= lowestUnsettled {
                lowestUnsettled = tag + 1
                settledAbove = settledAbove.filter { $0 > tag }
            }
        } else if tag == lowestUnsettled {
            lowestUnsettled += 1
        } else if tag > lowestUnsettled {
            settledAbove.insert(tag)
        }
        while settledAbove.remove(lowestUnsettled) != nil { lowestUnsettled += 1 }
        giveUpIfTooLarge()
    }

    private mutating func giveUpIfTooLarge() {
        guard settledAbove.count > memoryLimit else { return }
        isCoalescing = false
        settledAbove = []
    }
}
