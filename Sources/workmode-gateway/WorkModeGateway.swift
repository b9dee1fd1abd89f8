import ArgumentParser
import Gateway

/// The command line. Parsing only: each subcommand hands its options to a target that does the work.
@main
struct WorkModeGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workmode-gateway",
        abstract: "Forwards work-mode change commands from RabbitMQ to Huawei OIFDE.",
        version: BuildInfo.description,
        subcommands: [Run.self, Simulate.self, Validate.self, Publish.self, DeadLetters.self, TopologyCommand.self]
    )
}
