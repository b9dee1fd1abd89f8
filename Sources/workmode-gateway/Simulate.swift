import ArgumentParser
import Foundation
import Logging
import OIFDESimulator
import WorkModeDomain

/// `workmode-gateway simulate`: an OIFDE stand-in for demos, tests and benchmarks.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an OIFDE simulator (gettoken, changeWorkMode, and /simulator/ controls)."
    )

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:18443"

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; with --tls-key, serve HTTPS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("tenant"), help: "A tenant and its API password, ID:SECRET. Repeat for more.")
    var tenants: [String] = []

    @Option(name: .customLong("token-ttl"), help: "Token lifetime (e.g. 3600s, 5m).")
    var tokenTTL: String = "3600s"

    @Flag(name: .customLong("auto-sessions"), help: "Unknown sessions start in supervision instead of being refused.")
    var autoSessions = false

    @Option(help: "Latency added to every answer (e.g. 0ms, 20ms).")
    var latency: String = "0ms"

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        _ = try parsedListen()
        guard DurationText.parse(tokenTTL) != nil else { throw ValidationError("--token-ttl: not a duration: \(tokenTTL)") }
        guard DurationText.parse(latency) != nil else { throw ValidationError("--latency: not a duration: \(latency)") }
        _ = try parsedTenants()
    }

    func parsedListen() throws -> ListenAddress {
        guard let address = ListenAddress(listen) else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:18443") }
        return address
    }

    func parsedTenants() throws -> [String: String] {
        var result: [String: String] = [:]
        for tenant in tenants {
            guard let colon = tenant.firstIndex(of: ":"), colon != tenant.startIndex else {
                throw ValidationError("--tenant must be ID:SECRET")
            }
            result[String(tenant[..<colon])] = String(tenant[tenant.index(after: colon)...])
        }
        return result
    }

    func run() async throws {
        var logger = Logger(label: "oifde-simulator")
        logger.logLevel = .warning
        let address = try parsedListen()
        let (host, port) = (address.host, address.port)
        let configuration = SimulatorConfiguration(
            host: host, port: port, tlsCertificateFile: tlsCert, tlsKeyFile: tlsKey, tenants: try parsedTenants(),
            tokenTTLSeconds: Int((DurationText.parse(tokenTTL) ?? .seconds(3600)).timeInterval), autoSessions: autoSessions,
            latency: DurationText.parse(latency) ?? .zero
        )
        let scheme = tlsCert == nil ? "http" : "https"
        try await OIFDESimulator(configuration: configuration, logger: logger).run { bound in
            // Written unbuffered: scripts and tests wait for this line on a pipe or file.
            FileHandle.standardOutput.write(Data("oifde-simulator listening on \(scheme)://\(host):\(bound)\n".utf8))
        }
    }
}
