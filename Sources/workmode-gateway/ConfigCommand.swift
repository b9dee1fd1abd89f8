import ArgumentParser
import Foundation
import Gateway
import GatewayConfig
import Logging
import WorkModeDomain

/// `workmode-gateway config check`: the configuration `run` would use, validated and printed with
/// secrets masked; exit 0 or 78 (with `--connect` also 75 and 2, see docs/cli.md).
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration without running the gateway.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and validate the configuration; print it with secrets masked (exit 0, or 78 when invalid).")

        @OptionGroup var options: ConfigOption
        @Flag(help: "Also connect: the broker, the topology, and one gettoken per tenant (exit 75 unreachable, 2 topology drift).")
        var connect = false
        @Flag(help: "One JSON object, nothing else.")
        var json = false
        @Flag(help: "Print nothing; the exit status says it all.")
        var quiet = false

        func run() async throws {
            let path = options.config ?? ProcessInfo.processInfo.environment["WMG_CONFIG"]
            let configuration: GatewayConfiguration
            do {
                configuration = try ConfigurationLoader().load(path: path)
            } catch {
                if json {
                    var writer = JSONWriter()
                    writer.beginObject()
                    writer.member("config", path ?? "(defaults and WMG_ variables)")
                    writer.member("valid", false)
                    writer.member("error", "\(error)")
                    writer.member("status", 78)
                    writer.endObject()
                    OperatorCommand.say(String(decoding: writer.bytes, as: UTF8.self))
                } else if !quiet {
                    OperatorCommand.complain("\(error)")
                }
                throw ExitCode(78)
            }
            var findings: [ConfigCheck.Finding] = []
            if connect {
                var logger = Logger(label: "config-check")
                logger.logLevel = .critical
                findings = await ConfigCheck.connect(configuration, logger: logger)
            }
            let status = ConfigCheck.status(findings)
            if json {
                OperatorCommand.say(Self.json(path: path, configuration: configuration, findings: findings, status: status))
            } else if !quiet {
                for (key, value) in ConfigCheck.effective(configuration) { OperatorCommand.say("\(key): \(value)") }
                for finding in findings { OperatorCommand.say("\(finding.check): \(Self.word(finding.outcome)): \(finding.detail)") }
                OperatorCommand.say(status == 0 ? "configuration ok" : "configuration valid; \(Self.summary(findings))")
            }
            if status != 0 { throw ExitCode(status) }
        }

        static func word(_ outcome: ConfigCheck.Finding.Outcome) -> String {
            switch outcome {
            case .ok: "ok"
            case .drift: "DIFFERS"
            case .unavailable: "UNREACHABLE"
            case .misconfigured: "REFUSED"
            }
        }

        static func summary(_ findings: [ConfigCheck.Finding]) -> String {
            let failed = findings.filter { if case .ok = $0.outcome { false } else { true } }
            return "\(failed.count) of \(findings.count) connection checks failed: " + failed.map(\.check).joined(separator: ", ")
        }

        static func json(path: String?, configuration: GatewayConfiguration, findings: [ConfigCheck.Finding], status: Int32) -> String {
            var writer = JSONWriter(capacity: 2048)
            writer.beginObject()
            writer.member("config", path ?? "(defaults and WMG_ variables)")
            writer.member("valid", true)
            writer.key("effective")
            writer.beginObject()
            for (key, value) in ConfigCheck.effective(configuration) { writer.member(key, value) }
            writer.endObject()
            writer.beginArray("checks")
            for finding in findings {
                writer.beginObject()
                writer.member("check", finding.check)
                writer.member("ok", { if case .ok = finding.outcome { true } else { false } }())
                writer.member("outcome", word(finding.outcome).lowercased())
                writer.member("detail", finding.detail)
                writer.endObject()
            }
            writer.endArray()
            writer.member("status", Int(status))
            writer.endObject()
            return String(decoding: writer.bytes, as: UTF8.self)
        }
    }
}
