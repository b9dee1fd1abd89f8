import ArgumentParser
import Operations

/// `workmode-gateway validate FILE`.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a file of commands (JSON lines or CSV) offline, by the daemon's rules.",
        discussion: "Prints each error of each bad line with its line number and JSON pointer, then a summary. Exit 65 when any line is invalid."
    )

    @Argument(help: "The file, or - for standard input.")
    var file: String

    @Option(help: "jsonl or csv (default: by extension, else by the first character).")
    var format: CommandFile.Format?

    @OptionGroup var options: ConfigOption

    func run() async throws {
        try await OperatorCommand.run {
            let context = try OperatorContext(configPath: options.config)
            let summary = try BatchValidation(decoder: context.decoder).run(try CommandFile(path: file, format: format), problem: OperatorCommand.say)
            OperatorCommand.say(BatchValidation.summaryLine(summary))
            if summary.invalid > 0 { throw ExitCode(65) }
        }
    }
}
