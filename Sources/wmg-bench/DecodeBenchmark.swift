import Foundation
import WorkModeDomain

/// Decode + validate throughput of a typical transfer command on one core, and the cost of
/// writing its result event.
struct DecodeBenchmark {
    let count: Int

    static let transferCommand = Array(
        """
        {"tenantId":"202204247563","callId":"1656315126-12345678901234567890123456","agentId":"1001","workMode":"3",\
        "callTransferRequest":{"callTransferType":"5","callTransferRouteValue":"+8613800138000",\
        "callTransferTransData":"customerLevel=gold;queue=vip","callTransferNumber":"4008001234"}}
        """.utf8)

    func run() {
        let decoder = CommandDecoder()
        guard case .success = decoder.decode(Self.transferCommand) else {
            print("decode benchmark: the sample command does not validate")
            return
        }
        // Warm up, then take the best of five runs: the machine is shared and noisy.
        var sink = 0
        for _ in 0..<10_000 { if case .success(let c) = decoder.decode(Self.transferCommand) { sink &+= c.callId.utf8.count } }
        var best = Double.infinity
        for _ in 0..<5 {
            let started = ContinuousClock.now
            for _ in 0..<count {
                if case .success(let command) = decoder.decode(Self.transferCommand) { sink &+= command.agentId.utf8.count }
            }
            best = min(best, (ContinuousClock.now - started).seconds)
        }
        let rate = Double(count) / best
        let now = Date()
        let event = ResultEvent(
            commandId: "m", status: .succeeded, tenantId: "202204247563", callId: "c", agentId: "1001", workMode: "3",
            errorCode: "0", errorMsg: "", httpStatus: 200, attempts: 1, receivedAt: now, completedAt: now
        )
        let eventStarted = ContinuousClock.now
        for _ in 0..<count { sink &+= event.jsonBytes().count }
        let eventRate = Double(count) / (ContinuousClock.now - eventStarted).seconds
        print("decode+validate (\(Self.transferCommand.count)-byte transfer command): \(Int(rate)) commands/s on one core (target >= 200000)")
        print("result event JSON: \(Int(eventRate)) events/s on one core")
        if sink == 42 { print("") }
    }
}
