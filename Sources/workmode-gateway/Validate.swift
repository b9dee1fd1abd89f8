import ArgumentParser
import Operations
import WorkModeDomain

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

    @Option(help: "The CSV field separator: , (default), ; (European spreadsheet exports), | or tab.")
    var delimiter: String = ","

    @Flag(help: "One JSON object per invalid line ({line, errors}), then one summary object; nothing else.")
    var json = false

    @OptionGroup var options: ConfigOption

    func run() async throws {
        try await OperatorCommand.run {
            let context = try OperatorContext(configPath: options.config)
            let validation = BatchValidation(decoder: context.decoder)
            var input = try CommandFile(path: file, format: format)
            guard let separator = CommandFile.delimiter(delimiter) else {
                throw OperatorError(.usage, "--delimiter \(delimiter): one of , ; | or tab")
            }
            input.delimiter = separator
            guard json else {
                let summary = try validation.run(input, problem: OperatorCommand.say)
                OperatorCommand.say(BatchValidation.summaryLine(summary))
                if summary.invalid > 0 { throw ExitCode(65) }
                return
            }
            let summary = try validation.run(input) { line, errors in
                JSONOutput.line { writer in
                    writer.member("line", line)
                    writer.beginArray("errors")
                    for error in errors {
                        writer.beginObject()
                        writer.member("pointer", error.pointer)
                        writer.member("code", error.code.rawValue)
                        writer.member("message", error.message)
                        writer.endObject()
                    }
                    writer.endArray()
                }
            }
            JSONOutput.line { writer in
                writer.member("summary", true)
                writer.member("checked", summary.records)
                writer.member("valid", summary.valid)
                writer.member("invalid", summary.invalid)
                writer.member("duplicateMessageIds", summary.duplicateMessageIds)
            }
            if summary.invalid > 0 { throw ExitCode(65) }
        }
    }
}
