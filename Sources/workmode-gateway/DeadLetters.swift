import ArgumentParser
import Foundation
import Operations
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// `workmode-gateway dead-letters list|replay|purge`.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Inspect, replay or delete dead letters.",
        subcommands: [List.self, Replay.self, Purge.self, Migrate.self]
    )

    struct Filters: ParsableArguments {
        @Option(name: .customLong("class"), help: "invalid, rejected, exhausted, expired or poison.")
        var failureClass: String?

        @Option(help: "Only this tenantId.")
        var tenant: String?

        @Option(help: "Only those dead-lettered since: an RFC 3339 time or a duration back from now (1h).")
        var since: String?

        func filter() throws(OperatorError) -> DeadLetterFilter {
            DeadLetterFilter(
                failureClass: try failureClass.map { text throws(OperatorError) in try DeadLetterFilter.parseClass(text) }, tenantId: tenant,
                since: try since.map { text throws(OperatorError) in try DeadLetterFilter.parseSince(text) }
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show open dead letters, grouped by class and reason; reading changes nothing."
        )
        @OptionGroup var filters: Filters
        @Option(help: "Show at most this many messages (counts cover all).")
        var limit: Int?
        @Flag(help: "One JSON object per message, nothing else.")
        var json = false
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await OperatorCommand.run {
                if let limit, limit < 0 { throw OperatorError(.usage, "--limit \(limit): must be 0 or more") }
                let tools = DeadLetterTools(context: try OperatorContext(configPath: options.config), filter: try filters.filter())
                _ = try await tools.list(limit: limit, json: json, say: OperatorCommand.say)
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send matching dead letters back to where they came from.",
            discussion:
                "Each is republished with x-redrive-count + 1 and without its failure headers, and settled only after the broker confirmed the republish."
        )
        @OptionGroup var filters: Filters
        @Flag(help: "Show what would be replayed; change nothing.")
        var dryRun = false
        @Option(help: "At most this many messages per second.")
        var rate: Double?
        @Option(help: "Refuse messages already replayed this many times.")
        var maxRedrives: Int = 3
        @Flag(help: "One JSON object with what was done ({scanned, replayed, refused, failed} and their keys); nothing else.")
        var json = false
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await OperatorCommand.run {
                if let rate, !(rate > 0) || !rate.isFinite {
                    throw OperatorError(.usage, "--rate \(rate): must be a number of messages per second above 0")
                }
                guard maxRedrives >= 0 else { throw OperatorError(.usage, "--max-redrives \(maxRedrives): must be 0 or more") }
                let tools = DeadLetterTools(context: try OperatorContext(configPath: options.config), filter: try filters.filter())
                let result = try await tools.replay(dryRun: dryRun, rate: rate, maxRedrives: maxRedrives, say: json ? { _ in } : OperatorCommand.say)
                if json {
                    JSONOutput.line { writer in
                        writer.member("dryRun", dryRun)
                        writer.member("scanned", result.scanned)
                        writer.member("replayed", result.replayed)
                        writer.member("refused", result.refused)
                        writer.member("failed", result.failed)
                        JSONOutput.strings(&writer, "replayedKeys", result.replayedKeys)
                        JSONOutput.strings(&writer, "refusedKeys", result.refusedKeys)
                        JSONOutput.strings(&writer, "failedKeys", result.failedKeys)
                    }
                }
                if result.failed > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the letters of an earlier version's dead-letter quorum queue into the dead-letter stream.",
            discussion: "Safe to run again: a migration interrupted at any point is finished by the next run, every letter once."
        )
        @Option(help: "At most this many letters per second.")
        var rate: Double?
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await OperatorCommand.run {
                if let rate, !(rate > 0) || !rate.isFinite {
                    throw OperatorError(.usage, "--rate \(rate): must be a number of letters per second above 0")
                }
                _ = try await DeadLetterMigration(context: try OperatorContext(configPath: options.config)).run(rate: rate, say: OperatorCommand.say)
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete matching dead letters.")
        @OptionGroup var filters: Filters
        @Flag(help: "Do not ask.")
        var yes = false
        @Flag(help: "One JSON object with what was deleted ({deleted, keys}); nothing else. Needs --yes.")
        var json = false
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await OperatorCommand.run {
                let tools = DeadLetterTools(context: try OperatorContext(configPath: options.config), filter: try filters.filter())
                if !yes {
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw OperatorError(.usage, "purge deletes messages for good: pass --yes (no terminal to ask on)")
                    }
                    let count = try await tools.count()
                    FileHandle.standardError.write(Data("Delete \(count) dead letters for good? [y/N] ".utf8))
                    guard let answer = readLine(), answer.lowercased().hasPrefix("y") else {
                        OperatorCommand.say("nothing deleted")
                        return
                    }
                }
                if json {
                    let keys = try await tools.purgeMatching(say: { _ in })
                    JSONOutput.line { writer in
                        writer.member("deleted", keys.count)
                        JSONOutput.strings(&writer, "keys", keys)
                    }
                    return
                }
                _ = try await tools.purge(say: OperatorCommand.say)
            }
        }
    }
}
