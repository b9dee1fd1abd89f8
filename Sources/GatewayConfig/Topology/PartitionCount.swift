import AMQP

extension Topology {
    /// `topology.partitions` differs from the partition queues in the broker. Starting anyway would
    /// move calls between partitions (the hash ring changes) and strand the commands of queues no
    /// replica serves any more, so the daemon refuses it (exit 78, docs/contract.md section 14).
    public struct PartitionMismatch: Error, CustomStringConvertible {
        /// One line: the two counts and where the procedure to change them is.
        public let description: String
    }

    /// The most partition queues probed (the configuration allows 1024).
    static let partitionProbeLimit = 1025

    /// How many partition queues `<commandsQueue>.p0`, `.p1`, … exist, counted up to the first
    /// missing one (a passive declare each, on a channel of its own: a 404 closes it). `declare`
    /// creates them highest first, so the p3 and p2 a declare of four stopped partway leaves
    /// count as none, and the next start finishes that declare instead of refusing it.
    public func existingPartitionCount(on connection: AMQPConnection) async throws -> Int {
        for index in 0..<Self.partitionProbeLimit where try await !connection.queueExists(partitionQueue(index)) {
            return index
        }
        return Self.partitionProbeLimit
    }

    /// Refuses a configuration whose partition count differs from a partitioned topology already in
    /// the broker; a broker without partition queues (a first start) is fine.
    public func checkPartitionCount(on connection: AMQPConnection) async throws {
        let existing = try await existingPartitionCount(on: connection)
        guard existing > 0, existing != section.partitions else { return }
        let configured =
            section.partitions == 0 ? "topology.partitions is 0 (one commands queue)" : "topology.partitions is \(section.partitions)"
        throw PartitionMismatch(
            description:
                "\(configured) but the broker holds \(existing) partition queues (\(partitionQueue(0)) … \(partitionQueue(existing - 1))): "
                + "starting would move calls between partitions and strand commands; set topology.partitions to \(existing), "
                + "or change the count as docs/deploy.md says (\"Changing the partition count\")")
    }
}
