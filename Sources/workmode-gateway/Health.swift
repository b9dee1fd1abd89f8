import ArgumentParser
import Foundation
import GatewayConfig
import Operations
import WorkModeDomain

/// `workmode-gateway health`: asks a running gateway's admin listener whether it is ready; exit 0
/// ready, 1 anything else. The container's HEALTHCHECK, and scripts that wait for a start.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running gateway's admin listener for readiness (exit 0 ready, 1 not).")

    @OptionGroup var options: ConfigOption
    @Option(help: "The admin listener, HOST:PORT (default: admin.listen of the configuration).")
    var listen: String?
    @Option(help: "How long to wait for the answer (e.g. 3s).")
    var timeout = "3s"
    @Flag(help: "One JSON object, nothing else.")
    var json = false
    @Flag(help: "Print nothing; the exit status says it all.")
    var quiet = false

    func run() throws {
        let address: ListenAddress
        guard let limit = DurationText.parse(timeout), limit > .zero else {
            report(ok: false, line: "--timeout: expected a duration such as 3s; got \(timeout)", detail: nil)
            throw ExitCode(1)
        }
        do {
            if let listen {
                guard let parsed = ListenAddress(listen) else {
                    report(ok: false, line: "--listen: expected HOST:PORT; got \(listen)", detail: nil)
                    throw ExitCode(1)
                }
                address = parsed
            } else {
                let path = options.config ?? ProcessInfo.processInfo.environment["WMG_CONFIG"]
                address = try ConfigurationLoader().load(path: path).adminListen
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            // A health check that cannot even be asked is "not healthy", never a crash or a usage error.
            report(ok: false, line: "\(error)", detail: nil)
            throw ExitCode(1)
        }
        let answer = HealthProbe(listen: address, timeout: limit).ask()
        switch answer {
        case .ready(let body): report(ok: true, line: "ready", detail: body)
        case .notReady(let status, let body): report(ok: false, line: "not ready (HTTP \(status))", detail: body)
        case .unreachable(let why): report(ok: false, line: why, detail: nil)
        }
        if !answer.isReady { throw ExitCode(1) }
    }

    private func report(ok: Bool, line: String, detail: String?) {
        if quiet { return }
        if json {
            var writer = JSONWriter()
            writer.beginObject()
            writer.member("ready", ok)
            if let detail, detail.hasPrefix("{"), detail.hasSuffix("}") {
                writer.member("answer", json: Array(detail.utf8))
            } else {
                writer.member("error", line)
            }
            writer.endObject()
            OperatorCommand.say(String(decoding: writer.bytes, as: UTF8.self))
        } else if ok {
            OperatorCommand.say(detail.map { "ready: \($0)" } ?? "ready")
        } else {
            OperatorCommand.complain(detail.map { "\(line): \($0)" } ?? line)
        }
    }
}
