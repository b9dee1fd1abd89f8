import Foundation
import Logging
import OIFDEClient
import OIFDESimulator
import Testing
import WorkModeDomain

/// A CA and a server certificate for `localhost`/127.0.0.1, made with openssl for each test run.
/// Nothing private is committed.
struct TestCertificates: Sendable {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var certificateFile: String { directory + "/server.pem" }
    var keyFile: String { directory + "/server.key" }

    /// Made once per test process, on first use. Async, not a `static let`: a blocking first use
    /// (openssl under load takes seconds) held the cooperative threads of every test that asked at
    /// once, and the whole process, simulators included, stood still.
    static func shared() async -> TestCertificates? { await CertificateStore.shared.certificates() }

    static func make() async throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "wmg-certs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The same script the demo and benchmarks use.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.path + "/deploy/local/make-certs.sh", directory]
        process.standardOutput = FileHandle.nullDevice
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else { throw CertificateError() }
        return TestCertificates(directory: directory)
    }

    struct CertificateError: Error {}
}

/// The one set of test certificates, made by the first test that asks.
actor CertificateStore {
    static let shared = CertificateStore()
    private var making: Task<TestCertificates?, Never>?

    func certificates() async -> TestCertificates? {
        if let making { return await making.value }
        let task = Task { try? await TestCertificates.make() }
        making = task
        return await task.value
    }
}

/// Runs a simulator on a free loopback port for the duration of `body`.
func withSimulator<T: Sendable>(
    _ configuration: SimulatorConfiguration,
    _ body: @Sendable (OIFDESimulator, Int) async throws -> T
) async throws -> T {
    var configuration = configuration
    configuration.port = 0
    let simulator = OIFDESimulator(configuration: configuration, logger: Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() }))
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await simulator.run { port in portSink.yield(port) }
            return nil
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        let result = try await body(simulator, port)
        group.cancelAll()
        return result
    }
}

func makeClient(
    port: Int, https: Bool = false, caFile: String? = nil, tenants: [String: String] = ["t1": "s1"],
    // Generous: the timeout bounds each whole exchange, and this process also runs the CPU-bound
    // property tests on the same two cores; the tests about timeouts set their own.
    timeout: Duration = .seconds(30), authMode: CommandDecoder.AuthMode = .token
) throws -> OIFDEClient {
    let configuration = OIFDEConfiguration(
        baseURL: "\(https ? "https" : "http")://\(https ? "localhost" : "127.0.0.1"):\(port)", timeout: timeout,
        tls: .init(caFile: caFile), authMode: authMode, tenants: tenants.mapValues(OIFDEConfiguration.Secret.init)
    )
    return try OIFDEClient(configuration: configuration, logger: Logger(label: "client", factory: { _ in SwiftLogNoOpLogHandler() }))
}

func command(_ mode: WorkMode, tenant: String = "t1", call: String = "c1", transfer: CallTransferRequest? = nil) -> WorkModeCommand {
    WorkModeCommand(
        tenantId: tenant, callId: call, agentId: "a1", workMode: mode,
        callTransferRequest: mode == .transfer ? (transfer ?? CallTransferRequest(type: .agent, routeValue: "1002")) : nil)
}

/// Gets the tenant's token cached (and a connection open) before a test's fault: the timeout bounds
/// each whole exchange, and on a machine busy with the rest of the suite a first connection plus
/// gettoken can miss a short one.
func warmUp(_ client: OIFDEClient) async {
    for attempt in 0..<5 where await client.changeWorkMode(command(.supervision, call: "warm-\(attempt)"), commandId: "warm").verdict != .succeeded {
        try? await Task.sleep(for: .milliseconds(200))
    }
}

/// Runs `body` with `client` and shuts the client down whatever happens: an early return after
/// `Issue.record` used to skip the shutdown, and async-http-client's check for a client that was
/// never shut down then crashed the whole run instead of reporting the failure.
func withClient(_ client: OIFDEClient, _ body: (OIFDEClient) async throws -> Void) async throws {
    do {
        try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
}

/// Runs a Python script of Tests/Scripts that listens on a port the system picks and writes it to
/// `LOG.port` (its second argument is LOG): `body` gets the port and LOG. The script is killed
/// after `body`, whatever happens.
func withScript(_ script: String, _ arguments: [String], _ body: (_ port: Int, _ log: String) async throws -> Void) async throws {
    let log = NSTemporaryDirectory() + "wmg-script-" + UUID().uuidString + ".log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = [root.path + "/Tests/Scripts/" + script] + arguments.map { $0 == "LOG" ? log : $0 }
    // Not the test runner's output: `swift test` waits for every holder of its pipe to close it.
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    // SIGKILL: the test runner ignores SIGTERM (a service-lifecycle test traps it), and an
    // ignored signal stays ignored in a child across exec.
    defer { kill(process.processIdentifier, SIGKILL) }
    // Read at least once after the deadline too: in the first seconds of the whole suite this task
    // was not scheduled for over 10 s, and a loop that checked the clock first never looked.
    let end = ContinuousClock.now + .seconds(30)
    var port: Int?
    while true {
        port = (try? String(contentsOfFile: log + ".port", encoding: .utf8)).flatMap { Int($0) }
        if port != nil || ContinuousClock.now >= end { break }
        try await Task.sleep(for: .milliseconds(50))
    }
    try await body(try #require(port, "\(script) did not start listening within 30 s"), log)
}
