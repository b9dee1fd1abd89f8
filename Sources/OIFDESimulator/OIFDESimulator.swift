import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// An OIFDE stand-in serving `gettoken` and `changeWorkMode` as documented, with a per-session state
/// machine and fault injection (docs/contract.md section 10).
public struct OIFDESimulator: Sendable {
    /// How it was started.
    public let configuration: SimulatorConfiguration
    /// Its sessions, received requests and fault plan (for tests).
    public let state: SimulatorState
    let logger: Logger

    /// A simulator that serves until its task is cancelled (see `run`).
    public init(configuration: SimulatorConfiguration, logger: Logger = Logger(label: "oifde-simulator")) {
        self.configuration = configuration
        self.state = SimulatorState(configuration: configuration)
        self.logger = logger
    }

    /// A simulator that cannot start.
    public enum SetupError: Error, CustomStringConvertible {
        case tls(String)
        /// One line naming the option and the problem.
        public var description: String {
            switch self {
            case .tls(let why): return "cannot set up TLS: \(why)"
            }
        }
    }

    /// Serves until the task is cancelled. `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = SimulatorRoutes.build(state: state)
        let server: HTTPServerBuilder
        if let certificateFile = configuration.tlsCertificateFile, let keyFile = configuration.tlsKeyFile {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
                let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
                server = try .tls(.http1(), tlsConfiguration: tls)
            } catch {
                throw SetupError.tls("\(error)")
            }
        } else {
            server = .http1()
        }
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "oifde-simulator"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        try await app.run()
    }
}
