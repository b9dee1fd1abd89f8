import ArgumentParser
import GatewayConfig
import Operations
import WorkModeDomain

/// `workmode-gateway topology declare|check`.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Declare, or check, the exchanges, queues and bindings the gateway uses.",
        subcommands: [Declare.self, Check.self, Repartition.self]
    )

    struct Declare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Declare every exchange, queue and binding (idempotent).")
        @OptionGroup var options: ConfigOption
        func run() async throws {
            try await OperatorCommand.run {
                try await TopologyTool(context: try OperatorContext(configPath: options.config)).declare(say: OperatorCommand.say)
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that every exchange and queue exists with the specified type and arguments; change nothing."
        )
        @Flag(help: "One JSON object per entity ({entity, ok}), then a summary object; nothing else.")
        var json = false
        @OptionGroup var options: ConfigOption
        func run() async throws {
            try await OperatorCommand.run {
                let tool = TopologyTool(context: try OperatorContext(configPath: options.config))
                guard json else { return try await tool.check(say: OperatorCommand.say) }
                let lines = try await tool.report()
                for line in lines {
                    JSONOutput.line { writer in
                        writer.member("entity", line.line)
                        writer.member("ok", line.ok)
                    }
                }
                let differing = lines.filter { !$0.ok }.count
                JSONOutput.line { writer in
                    writer.member("summary", true)
                    writer.member("entities", lines.count)
                    writer.member("differing", differing)
                }
                if differing > 0 { throw ExitCode(OperatorError.Status.drift.rawValue) }
            }
        }
    }

    struct Repartition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the number of partition queues to topology.partitions, moving every waiting command into the new ones.",
            discussion: """
                Stop every replica first. Commands published meanwhile are held and moved too. A run \
                stopped at any point loses nothing; run it again to finish (docs/deploy.md).
                """
        )
        @Flag(help: "One JSON object: {from, to, moved, incoming, changed}.")
        var json = false
        @OptionGroup var options: ConfigOption
        func run() async throws {
            try await OperatorCommand.run {
                let tool = Operations.Repartition(context: try OperatorContext(configPath: options.config))
                let report = try await tool.run(say: json ? { _ in } : OperatorCommand.say)
                if json {
                    JSONOutput.line { writer in
                        writer.member("from", report.from)
                        writer.member("to", report.to)
                        writer.member("moved", report.moved)
                        writer.member("incoming", report.incoming)
                        writer.member("changed", report.changed)
                    }
                }
            }
        }
    }
}
