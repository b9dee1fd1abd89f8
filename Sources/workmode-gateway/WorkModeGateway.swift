import ArgumentParser
import Gateway

/// The command line. Parsing only: each subcommand hands its options to a target that does the work.
@main
struct WorkModeGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workmode-gateway",
        abstract: "Forwards work-mode change commands from RabbitMQ to Huawei OIFDE.",
        version: BuildInfo.description,
        subcommands: [Run.self, Simulate.self, Validate.self, Publish.self, DeadLetters.self, TopologyCommand.self, ConfigCommand.self, Health.self]
    )

    /// `--version --verbose` adds the resolved packages: argument-parser answers `--version` before it
    /// parses anything else, so the pair is recognised here first.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if Set(arguments) == ["--version", "--verbose"] {
            print(BuildInfo.verboseDescription)
            return
        }
        await main(nil)
    }
}
