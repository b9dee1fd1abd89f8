import ArgumentParser
import Operations

/// `workmode-gateway topology declare|check`.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Declare, or check, the exchanges, queues and bindings the gateway uses.",
        subcommands: [Declare.self, Check.self]
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
        @OptionGroup var options: ConfigOption
        func run() async throws {
            try await OperatorCommand.run {
                try await TopologyTool(context: try OperatorContext(configPath: options.config)).check(say: OperatorCommand.say)
            }
        }
    }
}
