import ArgumentParser
import DeadLetterConsole
import Foundation
import Gateway
import GatewayConfig
import Logging

/// `workmode-gateway run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway daemon.")

    @Option(help: "YAML configuration file (default: $WMG_CONFIG, else built-in defaults plus WMG_ variables).")
    var config: String?

    func run() async throws {
        let allocator = AllocatorTuning.apply(environment: ProcessInfo.processInfo.environment)
        let path = config ?? ProcessInfo.processInfo.environment["WMG_CONFIG"]
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader().load(path: path)
        } catch {
            FileHandle.standardError.write(Data("workmode-gateway: \(error)\n".utf8))
            throw ExitCode(78)
        }
        let format = StructuredLogHandler.Format(rawValue: configuration.log.format) ?? .json
        let level = Logger.Level(rawValue: configuration.log.level) ?? .info
        LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "workmode-gateway")
        var startMetadata = EffectiveConfiguration.metadata(configuration)
        for (key, value) in allocator { startMetadata[key] = "\(value)" }
        startMetadata["version"] = "\(BuildInfo.version)"
        startMetadata["commit"] = "\(BuildInfo.commit)"
        let console = DeadLetterConsole(configuration: configuration, logger: logger)
        startMetadata["console"] = "\(console.access.startLine)"
        logger.info("starting", metadata: startMetadata)
        for warning in EffectiveConfiguration.warnings(configuration) { logger.warning("\(warning)") }
        do {
            let interval = configuration.topology.deadLetterWatchInterval
            let watch = DeadLetterWatch(configuration: configuration, interval: interval, logger: logger)
            try await Daemon.run(
                configuration: configuration, logger: logger, adminRoutes: { router in console.register(on: router) },
                background: interval > .zero ? [{ await watch.run() }] : [])
        } catch let missing as Daemon.TracingNotBuilt {
            logger.critical("\(missing)")
            throw ExitCode(78)
        } catch let mismatch as Topology.PartitionMismatch {
            // A configuration that does not fit the broker: like any configuration error, 78.
            logger.critical("\(mismatch)")
            throw ExitCode(78)
        } catch {
            logger.critical("stopped by an error: \(error)")
            throw ExitCode(1)
        }
    }
}
