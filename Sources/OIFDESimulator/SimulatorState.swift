import Foundation
import Synchronization
import WorkModeDomain

/// Everything the simulator remembers: tokens, sessions with their history, what it received, and
/// the active fault. One lock, held only for map updates, so it serves tens of thousands of
/// requests per second on loopback.
public final class SimulatorState: Sendable {
    /// One change applied to a session.
    public struct HistoryEntry: Sendable, Hashable, Codable {
        /// The mode it changed to.
        public let workMode: String
        /// The agent that asked.
        public let agentId: String?
        /// The transfer type, for a transfer.
        public let transferType: String?
        /// The command ID from `X-Command-Id`.
        public let commandId: String?
        /// When (RFC 3339).
        public let at: String
    }

    /// A call's state in the simulated engine.
    public struct Session: Sendable, Hashable, Codable {
        /// The tenant.
        public var tenantId: String
        /// The call.
        public var callId: String
        /// Its current mode.
        public var workMode: String
        /// Every change applied, oldest first.
        public var history: [HistoryEntry]
    }

    /// One request the simulator received, tokens masked.
    public struct RequestRecord: Sendable, Hashable, Codable {
        /// Its number, from 1.
        public let sequence: Int
        /// `gettoken` or `changeWorkMode`.
        public let endpoint: String
        /// When (RFC 3339).
        public let at: String
        /// The tenant, when the body named one.
        public let tenantId: String?
        /// The call, for changeWorkMode.
        public let callId: String?
        /// The agent, for changeWorkMode.
        public let agentId: String?
        /// The requested mode, for changeWorkMode.
        public let workMode: String?
        /// The transfer type, for a transfer.
        public let transferType: String?
        /// `X-Command-Id`.
        public let commandId: String?
        /// The `traceparent` header.
        public let traceparent: String?
        /// Always masked: the simulator's log is as careful with tokens as the gateway.
        public let authToken: String?
        /// What it answered (`0`, a code, `hang`, `closed`, `raw`).
        public let errorCode: String
    }

    struct Token {
        let tenantId: String
        let expiresAt: Date
    }

    struct Storage {
        var tokens: [String: Token] = [:]
        var sessions: [String: Session] = [:]
        var requests: [RequestRecord] = []
        var requestsDropped = 0
        var sequence = 0
        var fault: FaultPlan?
        /// When a fault with `forSeconds` (or `outageSeconds`) stops.
        var faultUntil: Date?
        /// When the fault was set (the phases of `flapSeconds` count from it).
        var faultSince = Date()
        /// changeWorkMode requests being answered now, and the most at once.
        var concurrent = 0
        var mostConcurrent = 0
        var tooMany = 0
        /// Per tenant: changeWorkMode requests and the first and last time one came.
        var tenantCounts: [String: TenantCount] = [:]
    }

    /// What `GET /simulator/stats` shows of one tenant.
    public struct TenantCount: Sendable, Hashable, Codable {
        /// changeWorkMode requests, whatever was answered.
        public var requests: Int
        /// When the first came (RFC 3339, milliseconds).
        public var first: String
        /// When the last came.
        public var last: String
    }

    /// `GET /simulator/stats`: counts that tests of the gateway's protections read.
    public struct Stats: Sendable, Hashable, Codable {
        /// Per tenant, changeWorkMode requests with their first and last time.
        public var tenants: [String: TenantCount]
        /// The most changeWorkMode requests answered at once.
        public var mostConcurrent: Int
        /// Requests answered 429 for exceeding `maxConcurrent`.
        public var tooMany: Int
    }

    let configuration: SimulatorConfiguration
    private let storage = Mutex(Storage())

    /// Empty state: no sessions, no requests, no fault.
    public init(configuration: SimulatorConfiguration) { self.configuration = configuration }

    // MARK: - gettoken

    /// A gettoken answer.
    public struct TokenAnswer: Sendable {
        /// 0 or the refusal's code (an integer, as documented).
        public let errorCode: Int
        /// The message.
        public let errorMsg: String
        /// The token, when issued.
        public let authToken: String?
        /// Its lifetime in seconds, when issued.
        public let expireTime: Int?
    }

    func issueToken(appKey: String?, appSecret: String?, now: Date = Date()) -> TokenAnswer {
        guard let appKey, let appSecret else {
            return TokenAnswer(errorCode: 10_000_003, errorMsg: "appKey and appSecret are required", authToken: nil, expireTime: nil)
        }
        guard let expected = configuration.tenants[appKey] else {
            return TokenAnswer(errorCode: 200_800_001, errorMsg: "key does not exist", authToken: nil, expireTime: nil)
        }
        guard expected == appSecret else {
            return TokenAnswer(errorCode: 200_800_002, errorMsg: "key wrong", authToken: nil, expireTime: nil)
        }
        let token = "sim-" + UUID().uuidString
        let ttl = configuration.tokenTTLSeconds
        storage.withLock { storage in
            // Forget expired tokens now and then so a long run does not accumulate them.
            if storage.tokens.count > 10_000 { storage.tokens = storage.tokens.filter { $0.value.expiresAt > now } }
            storage.tokens[token] = Token(tenantId: appKey, expiresAt: now.addingTimeInterval(Double(ttl)))
        }
        record(endpoint: "gettoken", tenantId: appKey, errorCode: "0")
        return TokenAnswer(errorCode: 0, errorMsg: "success", authToken: token, expireTime: ttl)
    }

    // MARK: - changeWorkMode

    /// A changeWorkMode answer.
    public struct ChangeAnswer: Sendable, Hashable {
        /// `0` or the refusal's code (a string, as documented).
        public let errorCode: String
        /// The message.
        public let errorMsg: String
    }

    func changeWorkMode(body: [UInt8], commandId: String?, traceparent: String?, now: Date = Date()) -> ChangeAnswer {
        let decoded = CommandDecoder(maxMessageBytes: 1 << 20, authMode: .passthrough).decode(body)
        let answer: ChangeAnswer
        var command: WorkModeCommand?
        switch decoded {
        case .failure(let failure):
            if failure.errors.contains(where: { $0.pointer == "/authToken" }) {
                answer = ChangeAnswer(errorCode: "900001", errorMsg: "token missing")
            } else if failure.errors.contains(where: { $0.code == .required }) {
                answer = ChangeAnswer(errorCode: "10000003", errorMsg: "parameter missing: " + failure.errors[0].message)
            } else {
                answer = ChangeAnswer(errorCode: "10000002", errorMsg: "invalid parameter: " + failure.errors[0].message)
            }
            record(endpoint: "changeWorkMode", failure: failure, commandId: commandId, traceparent: traceparent, errorCode: answer.errorCode)
            return answer
        case .success(let valid):
            command = valid
        }
        guard let command, let token = command.authToken else {
            return ChangeAnswer(errorCode: "900001", errorMsg: "token missing")
        }
        let at = RFC3339.format(now)
        answer = storage.withLock { storage -> ChangeAnswer in
            guard let issued = storage.tokens[token], issued.expiresAt > now else {
                return ChangeAnswer(errorCode: "900001", errorMsg: "token expired or unknown")
            }
            guard issued.tenantId == command.tenantId else {
                return ChangeAnswer(errorCode: "900002", errorMsg: "token check failed")
            }
            return Self.apply(command, commandId: commandId, sessions: &storage.sessions, autoSessions: configuration.autoSessions, at: at)
        }
        record(endpoint: "changeWorkMode", command: command, commandId: commandId, traceparent: traceparent, at: at, errorCode: answer.errorCode)
        return answer
    }

    /// The documented state machine: changes are accepted only from supervision (1) or insertion
    /// (2). 1↔2 switches control, →0 ends silent-agent control, →3 transfers the call. The docs
    /// name no code for a refused change; the simulator answers 10000002 and names the state.
    static func apply(
        _ command: WorkModeCommand, commandId: String?, sessions: inout [String: Session], autoSessions: Bool, at: String
    ) -> ChangeAnswer {
        let key = command.laneKey
        if sessions[key] == nil {
            guard autoSessions else {
                return ChangeAnswer(errorCode: "10000002", errorMsg: "session \(command.callId) of tenant \(command.tenantId) does not exist")
            }
            sessions[key] = Session(tenantId: command.tenantId, callId: command.callId, workMode: "1", history: [])
        }
        guard let current = sessions[key]?.workMode else { return ChangeAnswer(errorCode: "10000001", errorMsg: "internal error") }
        guard current == "1" || current == "2" else {
            let state = WorkMode(rawValue: Int(current) ?? -1).map { "\($0.rawValue) (\($0))" } ?? current
            return ChangeAnswer(
                errorCode: "10000002", errorMsg: "session is in state \(state); changes are allowed only in 1 (supervision) or 2 (insertion)")
        }
        // Mutated in place: a copied-out session would copy its whole history on every append.
        sessions[key]?.workMode = command.workMode.wireValue
        sessions[key]?.history.append(
            HistoryEntry(
                workMode: command.workMode.wireValue, agentId: command.agentId, transferType: command.callTransferRequest?.type.wireValue,
                commandId: commandId, at: at
            ))
        return ChangeAnswer(errorCode: "0", errorMsg: "")
    }

    // MARK: - control

    /// Puts a session in `workMode`, as if the call had moved there (a test's starting point).
    public func setSession(tenantId: String, callId: String, workMode: WorkMode) {
        storage.withLock { storage in
            let key = WorkModeCommand(tenantId: tenantId, callId: callId, agentId: "", workMode: workMode).laneKey
            var session = storage.sessions[key] ?? Session(tenantId: tenantId, callId: callId, workMode: workMode.wireValue, history: [])
            session.workMode = workMode.wireValue
            storage.sessions[key] = session
        }
    }

    /// A session's mode and the history of changes applied to it; nil when unknown.
    public func session(tenantId: String, callId: String) -> Session? {
        let key = WorkModeCommand(tenantId: tenantId, callId: callId, agentId: "", workMode: .common).laneKey
        return storage.withLock { $0.sessions[key] }
    }

    /// Every request received so far, oldest first.
    public var requests: [RequestRecord] { storage.withLock { $0.requests } }

    /// Forgets the requests received so far.
    public func clearRequests() {
        storage.withLock {
            $0.requests.removeAll()
            $0.tenantCounts.removeAll()
            $0.mostConcurrent = $0.concurrent
            $0.tooMany = 0
        }
    }

    /// Replaces the fault plan; nil answers normally again.
    public func setFault(_ plan: FaultPlan?) {
        var plan = plan
        if var outage = plan, let seconds = outage.outageSeconds {
            outage.httpStatus = outage.httpStatus ?? 503
            outage.forSeconds = seconds
            plan = outage
        }
        let until = plan?.forSeconds.map { Date().addingTimeInterval($0) }
        storage.withLock {
            $0.fault = plan
            $0.faultUntil = until
            $0.faultSince = Date()
        }
    }

    /// Counts a changeWorkMode request of `tenantId` in; false (and counted as a 429) when it is
    /// over the fault plan's `maxConcurrent`. Every true answer needs a `leave()`.
    func enter(tenantId: String?) -> Bool {
        let now = RFC3339.format(Date())
        return storage.withLock { storage in
            if let tenantId {
                var count = storage.tenantCounts[tenantId] ?? TenantCount(requests: 0, first: now, last: now)
                count.requests += 1
                count.last = now
                storage.tenantCounts[tenantId] = count
            }
            if let cap = storage.fault?.maxConcurrent, storage.concurrent >= cap {
                storage.tooMany += 1
                return false
            }
            storage.concurrent += 1
            storage.mostConcurrent = max(storage.mostConcurrent, storage.concurrent)
            return true
        }
    }

    /// A request `enter` let in has been answered.
    func leave() { storage.withLock { $0.concurrent -= 1 } }

    /// The counts since the last `DELETE /simulator/requests`.
    public var stats: Stats {
        storage.withLock { Stats(tenants: $0.tenantCounts, mostConcurrent: $0.mostConcurrent, tooMany: $0.tooMany) }
    }

    /// The fault for this request, if one applies; counts it down.
    func takeFault(for endpoint: FaultPlan.Target) -> FaultPlan? {
        storage.withLock { storage -> FaultPlan? in
            if let until = storage.faultUntil, Date() >= until {
                storage.fault = nil
                storage.faultUntil = nil
            }
            guard var plan = storage.fault, plan.applies(to: endpoint) else { return nil }
            if let flap = plan.flapSeconds, flap > 0, Int(Date().timeIntervalSince(storage.faultSince) / flap) % 2 == 1 { return nil }
            if let count = plan.count {
                guard count > 0 else {
                    storage.fault = nil
                    return nil
                }
                plan.count = count - 1
                storage.fault = plan.count == 0 ? nil : plan
                return plan
            }
            if let fraction = plan.fraction { return Double.random(in: 0..<1) < fraction ? plan : nil }
            return plan
        }
    }

    // MARK: - request log

    private func record(endpoint: String, tenantId: String, errorCode: String) {
        append { sequence in
            RequestRecord(
                sequence: sequence, endpoint: endpoint, at: RFC3339.format(Date()), tenantId: tenantId, callId: nil,
                agentId: nil, workMode: nil, transferType: nil, commandId: nil, traceparent: nil, authToken: nil,
                errorCode: errorCode)
        }
    }

    private func record(endpoint: String, command: WorkModeCommand, commandId: String?, traceparent: String?, at: String, errorCode: String) {
        append { sequence in
            RequestRecord(
                sequence: sequence, endpoint: endpoint, at: at, tenantId: command.tenantId,
                callId: command.callId, agentId: command.agentId, workMode: command.workMode.wireValue,
                transferType: command.callTransferRequest?.type.wireValue, commandId: commandId, traceparent: traceparent,
                authToken: "***", errorCode: errorCode)
        }
    }

    private func record(endpoint: String, failure: ValidationFailure, commandId: String?, traceparent: String?, errorCode: String) {
        append { sequence in
            RequestRecord(
                sequence: sequence, endpoint: endpoint, at: RFC3339.format(Date()), tenantId: failure.tenantId,
                callId: failure.callId, agentId: failure.agentId, workMode: failure.workMode, transferType: nil,
                commandId: commandId, traceparent: traceparent, authToken: "***", errorCode: errorCode)
        }
    }

    func recordFault(endpoint: String, commandId: String?, errorCode: String) {
        append { sequence in
            RequestRecord(
                sequence: sequence, endpoint: endpoint, at: RFC3339.format(Date()), tenantId: nil, callId: nil, agentId: nil,
                workMode: nil, transferType: nil, commandId: commandId, traceparent: nil, authToken: nil, errorCode: errorCode)
        }
    }

    private func append(_ make: (Int) -> RequestRecord) {
        storage.withLock { storage in
            storage.sequence += 1
            storage.requests.append(make(storage.sequence))
            if storage.requests.count > configuration.requestLogCapacity {
                storage.requests.removeFirst(storage.requests.count / 10)
            }
        }
    }
}
