import ArgumentParser
import Operations
import WorkModeDomain

/// `workmode-gateway publish FILE`: the batch-transfer-job tool.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a file of commands (JSON lines or CSV) to the commands exchange.",
        discussion: """
            Every line is validated first; one invalid line refuses the whole file (exit 65) unless --skip-invalid. \
            Each command gets its messageId field or column as message_id, else a new UUID. Publishes are persistent, \
            mandatory and confirmed; the last line counts confirmed, returned and nacked.
            """
    )

    @Argument(help: "The file, or - for standard input.")
    var file: String

    @Option(help: "jsonl or csv (default: by extension, else by the first character).")
    var format: CommandFile.Format?

    @Flag(help: "Publish the valid lines of a file that has invalid ones.")
    var skipInvalid = false

    @Option(help: "At most this many messages per second.")
    var rate: Double?

    @Option(help: "x-deadline of every command: a duration from now (10m) or an RFC 3339 time.")
    var deadline: String?

    @Option(help: "correlation_id of each command: PREFIX-<line number>.")
    var correlationPrefix: String?

    @Flag(help: "Wait for the result event of every published command and print a summary per status.")
    var waitResults = false

    @Option(help: "How long --wait-results waits (e.g. 5m).")
    var resultsTimeout: String = "5m"

    @Option(help: "Publishes awaiting their confirm at most.")
    var window: Int = 1000

    @OptionGroup var options: ConfigOption

    func run() async throws {
        try await OperatorCommand.run {
            let context = try OperatorContext(configPath: options.config)
            var settings = BatchPublisher.Options()
            settings.skipInvalid = skipInvalid
            settings.rate = rate
            settings.deadline = deadline
            settings.correlationPrefix = correlationPrefix
            settings.waitResults = waitResults
            guard let timeout = DurationText.parse(resultsTimeout) else {
                throw OperatorError(.usage, "--results-timeout \(resultsTimeout): not a duration")
            }
            settings.resultsTimeout = timeout
            guard window > 0 else { throw OperatorError(.usage, "--window must be at least 1") }
            settings.window = window
            let summary = try await BatchPublisher(context: context, options: settings)
                .run(try CommandFile(path: file, format: format), say: { OperatorCommand.say($0) })
            if summary.returned > 0 || summary.nacked > 0 {
                throw OperatorError(.runtime, "\(summary.returned + summary.nacked) commands were not accepted by the broker")
            }
            if summary.missingResults > 0 {
                throw OperatorError(.runtime, "\(summary.missingResults) commands have no result yet")
            }
        }
    }
}
