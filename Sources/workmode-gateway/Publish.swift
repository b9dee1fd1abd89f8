import ArgumentParser
import Operations
import UnixSignals
import WorkModeDomain

/// `workmode-gateway publish FILE`: the batch-transfer-job tool.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a file of commands (JSON lines or CSV) to the commands exchange (the batch queue unless --live).",
        discussion: """
            Every line is validated first (the daemon's rules, AMQP limits, repeated messageIds); one invalid line \
            refuses the whole file (exit 65) unless --skip-invalid. Each command gets its messageId field or column as \
            message_id, else an ID made of the file's content hash and its line number, the same on every run, so a \
            re-run is answered from the gateway's journal. Publishes are persistent, mandatory and confirmed; how far a \
            run got is kept in FILE.progress, and --resume continues after the last confirmed line. \
            Exit status: 0 every command is on the queue (with --wait-results: and every one succeeded); 1 a runtime \
            failure or commands the broker refused or results missing; 2 with --wait-results, every command was \
            published but some did not succeed; 64 usage; 65 invalid input; 130/143 stopped by SIGINT/SIGTERM after \
            settling what was out.
            """
    )

    @Argument(help: "The file, or - for standard input.")
    var file: String

    @Option(help: "jsonl or csv (default: by extension, else by the first character).")
    var format: CommandFile.Format?

    @Option(help: "The CSV field separator: , (default), ; (European spreadsheet exports), | or tab.")
    var delimiter: String = ","

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

    @Flag(help: "Continue after the last line an earlier run of this file had confirmed.")
    var resume = false

    @Flag(
        help: """
            Publish as live commands (routing key topology.commandsRoutingKey, default change) instead of to the batch             queue (routing key batch), which the gateway serves only in the slots live commands leave.
            """)
    var live = false

    @Option(help: "The progress file (default: FILE.progress; needed with --resume for standard input).")
    var progress: String?

    @Flag(help: "Print one JSON summary object at the end and nothing else (validation problems: use validate --json).")
    var json = false

    @OptionGroup var options: ConfigOption

    func run() async throws {
        try await OperatorCommand.run {
            if let rate, !(rate > 0) || !rate.isFinite {
                throw OperatorError(.usage, "--rate \(rate): must be a number of messages per second above 0")
            }
            guard window > 0 else { throw OperatorError(.usage, "--window must be at least 1") }
            let context = try OperatorContext(configPath: options.config)
            var settings = BatchPublisher.Options()
            settings.resume = resume
            settings.live = live
            settings.progressPath = progress
            // Stop reading on SIGINT/SIGTERM, settle what is out, record how far it got.
            let interruption = settings.interruption
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            let watcher = Task {
                for await signal in signals {
                    OperatorCommand.complain("\(signal): stopping after the commands already sent are confirmed")
                    interruption.stop(signal.rawValue)
                }
            }
            defer { watcher.cancel() }
            settings.skipInvalid = skipInvalid
            settings.rate = rate
            settings.deadline = deadline
            settings.correlationPrefix = correlationPrefix
            settings.waitResults = waitResults
            guard let timeout = DurationText.parse(resultsTimeout) else {
                throw OperatorError(.usage, "--results-timeout \(resultsTimeout): not a duration")
            }
            settings.resultsTimeout = timeout
            settings.window = window
            var input = try CommandFile(path: file, format: format)
            guard let separator = CommandFile.delimiter(delimiter) else {
                throw OperatorError(.usage, "--delimiter \(delimiter): one of , ; | or tab")
            }
            input.delimiter = separator
            let summary = try await BatchPublisher(context: context, options: settings)
                .run(input, say: { line in if !json { OperatorCommand.say(line) } })
            if json {
                JSONOutput.line { writer in
                    writer.member("file", file)
                    writer.member("published", summary.published)
                    writer.member("confirmed", summary.confirmed)
                    writer.member("returned", summary.returned)
                    writer.member("nacked", summary.nacked)
                    writer.member("skippedInvalid", summary.skippedInvalid)
                    writer.member("confirmedThroughLine", summary.confirmedThroughLine)
                    writer.member("lastLine", summary.lastLine)
                    writer.member("complete", summary.complete)
                    writer.member("interruptedBy", summary.interruptedBy.map { Int($0) })
                    if waitResults {
                        writer.key("results")
                        writer.beginObject()
                        for (status, count) in summary.results.sorted(by: { $0.key < $1.key }) { writer.member(status, count) }
                        writer.endObject()
                        writer.member("missingResults", summary.missingResults)
                    }
                }
            }
            if let signal = summary.interruptedBy { throw ExitCode(128 + signal) }
            if summary.returned > 0 || summary.nacked > 0 {
                throw OperatorError(.runtime, "\(summary.returned + summary.nacked) commands were not accepted by the broker")
            }
            if summary.missingResults > 0 {
                throw OperatorError(.runtime, "\(summary.missingResults) commands have no result yet")
            }
            let unsuccessful = summary.results.filter { $0.key != "succeeded" }.values.reduce(0, +)
            if unsuccessful > 0 {
                OperatorCommand.complain("\(unsuccessful) commands did not succeed (see their result events or dead letters)")
                throw ExitCode(2)
            }
        }
    }
}
