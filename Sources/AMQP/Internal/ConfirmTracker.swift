/// Publisher-confirm bookkeeping for one channel: a pure state machine, no I/O.
///
/// librabbitmq 0.11 does not number publishes, so this does: the n-th publish after
/// `confirm.select` has sequence number n. The broker acks and nacks by that number, out of order
/// and with `multiple` (covering every outstanding number up to the tag). A `basic.return` carries
/// no number: it comes before the ack of the message it returns, and returns come in publish order,
/// so it belongs to the earliest outstanding mandatory publish with the same exchange, routing key
/// and message id that has not been returned yet.
struct ConfirmTracker<Token> {
    struct Publish {
        let token: Token
        let mandatory: Bool
        let exchange: String
        let routingKey: String
        let messageId: String?
        var returned: (code: UInt16, text: String)?
    }

    private(set) var nextSequence: UInt64 = 1
    private var outstanding: [UInt64: Publish] = [:]
    /// No outstanding publish has a number below this one.
    private var lowestOutstanding: UInt64 = 1

    var outstandingCount: Int { outstanding.count }

    /// Records a publish that was handed to the socket; returns its sequence number.
    mutating func published(_ publish: Publish) -> UInt64 {
        let sequence = nextSequence
        outstanding[sequence] = publish
        nextSequence += 1
        return sequence
    }

    /// Resolves what a `basic.ack` or `basic.nack` covers. Unknown tags (already resolved, or
    /// never sent) resolve nothing.
    mutating func confirmed(tag: UInt64, multiple: Bool, ack: Bool) -> [(Token, PublishOutcome)] {
        var resolved: [(Token, PublishOutcome)] = []
        func outcome(_ publish: Publish) -> PublishOutcome {
            // A returned message is acked by the broker too; the caller must see the return.
            if let returned = publish.returned { return .returned(replyCode: returned.code, replyText: returned.text) }
            return ack ? .acked : .nacked
        }
        if multiple {
            let upper = min(tag, nextSequence - 1)
            if lowestOutstanding <= upper {
                for sequence in lowestOutstanding...upper {
                    if let publish = outstanding.removeValue(forKey: sequence) { resolved.append((publish.token, outcome(publish))) }
                }
            }
        } else if let publish = outstanding.removeValue(forKey: tag) {
            resolved.append((publish.token, outcome(publish)))
        }
        advanceLowest()
        return resolved
    }

    /// Marks the publish a `basic.return` belongs to. Returns false when none matches.
    mutating func returned(exchange: String, routingKey: String, messageId: String?, code: UInt16, text: String) -> Bool {
        guard lowestOutstanding < nextSequence else { return false }
        for sequence in lowestOutstanding..<nextSequence {
            guard let publish = outstanding[sequence], publish.mandatory, publish.returned == nil,
                publish.exchange == exchange, publish.routingKey == routingKey, publish.messageId == messageId
            else { continue }
            outstanding[sequence]?.returned = (code, text)
            return true
        }
        return false
    }

    /// Everything still outstanding, in publish order; the tracker is empty afterwards. Used when the
    /// channel or connection closes: those confirms will never come.
    mutating func drain() -> [Token] {
        let tokens = outstanding.sorted { $0.key < $1.key }.map(\.value.token)
        outstanding.removeAll()
        lowestOutstanding = nextSequence
        return tokens
    }

    private mutating func advanceLowest() {
        while lowestOutstanding < nextSequence, outstanding[lowestOutstanding] == nil { lowestOutstanding += 1 }
    }
}
