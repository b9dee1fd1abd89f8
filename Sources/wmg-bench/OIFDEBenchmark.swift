import Foundation
import Logging
import OIFDEClient
import WorkModeDomain

/// Requests per second of the OIFDE client against a running simulator, at a given concurrency.
/// Each request is a supervision↔insertion switch on its own session, so none is refused.
struct OIFDEBenchmark {
    let baseURL: String
    let concurrency: Int
    let seconds: Double

    func run() async throws {
        let configuration = OIFDEConfiguration(
            baseURL: baseURL, timeout: .seconds(10), tls: .init(verifyPeer: false), tenants: ["bench": .init("bench-secret")],
            maxConnections: concurrency
        )
        let client = try OIFDEClient(configuration: configuration, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let started = ContinuousClock.now
        let cpuBefore = processCPUSeconds()
        let (completed, failed) = await withTaskGroup(of: (Int, Int).self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var done = 0
                    var errors = 0
                    var mode = WorkMode.insertion
                    while ContinuousClock.now < deadline {
                        let command = WorkModeCommand(tenantId: "bench", callId: "w\(worker)", agentId: "a", workMode: mode)
                        if await client.changeWorkMode(command, commandId: "\(worker)-\(done)").verdict == .succeeded {
                            done += 1
                        } else {
                            errors += 1
                        }
                        mode = mode == .insertion ? .supervision : .insertion
                    }
                    return (done, errors)
                }
            }
            return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let cpuMicroseconds = (processCPUSeconds() - cpuBefore) * 1e6 / Double(max(1, completed + failed))
        print(
            "oifde concurrency=\(concurrency) requests/s=\(Int(Double(completed) / elapsed)) failed=\(failed)"
                + " cpu-us/request=\(Int(cpuMicroseconds))")
        try await client.shutdown()
    }
}
