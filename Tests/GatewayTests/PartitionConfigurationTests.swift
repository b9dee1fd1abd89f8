import AMQP
import GatewayConfig
import Testing

/// The pure parts of partitions (docs/contract.md section 11): the configuration keys, which partitions a
/// replica owns, and the topology they name.
@Suite(.timeLimit(.minutes(10))) struct PartitionConfigurationTests {
    func load(_ environment: [String: String]) throws(ConfigurationError) -> GatewayConfiguration {
        try ConfigurationLoader(environment: environment).load(path: nil)
    }

    @Test func theOrdinalIsANumberOrAStatefulSetPodName() throws {
        #expect(try load([:]).replicas.ordinal == 0)
        #expect(try load([:]).replicas.count == 1)
        #expect(try load([:]).replicas.standbyDelay == .seconds(5))
        #expect(try load([:]).topology.partitions == 0)
        let configured = try load(["WMG_REPLICAS_COUNT": "3", "WMG_REPLICAS_ORDINAL": "workmode-gateway-2", "WMG_TOPOLOGY_PARTITIONS": "6"])
        #expect(configured.replicas.ordinal == 2)
        #expect(try load(["WMG_REPLICAS_COUNT": "3", "WMG_REPLICAS_ORDINAL": "1"]).replicas.ordinal == 1)
    }

    /// A pod whose ordinal is past the count (a scale-down under way) owns nothing and stands by
    /// for every partition instead of exiting (docs/contract.md section 14).
    @Test func anOrdinalPastTheCountIsAStandbyForEveryPartition() throws {
        let configuration = try load(["WMG_REPLICAS_COUNT": "2", "WMG_REPLICAS_ORDINAL": "workmode-gateway-2", "WMG_TOPOLOGY_PARTITIONS": "4"])
        #expect(configuration.replicas.ownPartitions(of: 4).isEmpty)
        #expect(configuration.replicas.standbyPartitions(of: 4) == [0, 1, 2, 3])
    }

    @Test(arguments: [
        (["WMG_REPLICAS_COUNT": "2", "WMG_REPLICAS_ORDINAL": "gateway"], "pod name ending in one"),
        (["WMG_REPLICAS_COUNT": "0"], "must be from 1"),
        (["WMG_TOPOLOGY_PARTITIONS": "-1"], "must be from 0"),
    ])
    func mistakesNameTheirKey(environment: [String: String], problem: String) {
        #expect {
            _ = try load(environment)
        } throws: { error in
            "\(error)".contains(problem) && "\(error)".contains("replicas.") || "\(error)".contains("topology.partitions")
        }
    }

    @Test func eachPartitionHasOneOwnerAndEveryReplicaStandsByForTheRest() {
        for count in 1...5 {
            for partitions in 1...8 {
                var owners = [Int](repeating: 0, count: partitions)
                for ordinal in 0..<count {
                    var replicas = GatewayConfiguration().replicas
                    replicas.count = count
                    replicas.ordinal = ordinal
                    for partition in replicas.ownPartitions(of: partitions) { owners[partition] += 1 }
                    #expect(Set(replicas.ownPartitions(of: partitions) + replicas.standbyPartitions(of: partitions)) == Set(0..<partitions))
                }
                #expect(owners.allSatisfy { $0 == 1 }, "\(count) replicas, \(partitions) partitions: \(owners)")
            }
        }
    }

    @Test func thePartitionedTopologyIsTheContractsShape() {
        var section = GatewayConfiguration().topology
        section.partitions = 3
        let topology = Topology(section)
        #expect(topology.commandQueues == ["workmode.commands.p0", "workmode.commands.p1", "workmode.commands.p2"])
        let lines = topology.entities.map { "\($0.kind.rawValue) \($0.name): \($0.details)" }
        #expect(
            lines.contains(
                "exchange workmode.commands.partitioned: x-consistent-hash, durable, hash-header=x-call-key, alternate-exchange=workmode.commands.unkeyed"
            ))
        #expect(lines.contains("exchange workmode.commands.unkeyed: fanout, durable"))
        #expect(lines.contains("binding workmode.commands → workmode.commands.partitioned: routing key change, exchange to exchange"))
        #expect(lines.contains("binding workmode.commands.partitioned → workmode.commands.p2: weight 1"))
        #expect(lines.contains("binding workmode.commands.unkeyed → workmode.commands.p0: fanout"))
        #expect(!lines.contains { $0.hasPrefix("queue workmode.commands:") }, "no single commands queue beside the partitions")
        #expect(topology.partitionQueueArguments["x-single-active-consumer"] == FieldValue.bool(true))
        #expect(topology.partitionQueueArguments["x-delivery-limit"] == topology.commandsQueueArguments["x-delivery-limit"])
        #expect(Topology(GatewayConfiguration().topology).commandQueues == ["workmode.commands"])
    }

    /// p0 comes last: a declare stopped partway leaves no p0, which the partition count reads as a
    /// first start to finish, never as a smaller count to refuse (a CI run hit a transient 541 on p1).
    @Test func partitionQueuesAreDeclaredHighestFirst() {
        var section = GatewayConfiguration().topology
        section.partitions = 4
        let queues = Topology(section).entities.filter { $0.kind == .queue && $0.name.contains(".commands.p") }.map(\.name)
        #expect(queues == ["workmode.commands.p3", "workmode.commands.p2", "workmode.commands.p1", "workmode.commands.p0"])
    }
}
