import Foundation
import OIFDEClient
import OIFDESimulator
import Testing
import WorkModeDomain

/// The faults that probing from outside found (issue 13), each against the simulator misbehaving
/// on purpose over real HTTP.
@Suite(.timeLimit(.minutes(10))) struct ProbedFaultTests {
    let base = SimulatorConfiguration(tenants: ["t1": "s1"], autoSessions: true)

    struct TokenAnswerCase: Sendable, CustomTestStringConvertible {
        let body: String
        let problem: String
        var testDescription: String { body }
    }

    static let unusableTokens: [TokenAnswerCase] = [
        .init(body: #"{"errorCode":0,"errorMsg":"success","expireTime":3600}"#, problem: "without an authToken"),
        .init(body: #"{"errorCode":"0","errorMsg":"success","authToken":""}"#, problem: "with an empty authToken"),
        .init(body: #"{"errorCode":0,"errorMsg":"success","authToken":null}"#, problem: "with a null authToken"),
        .init(body: #"{"errorCode":0,"errorMsg":"success","authToken":12345}"#, problem: "with an authToken that is not a string"),
        .init(body: #"{"errorMsg":"success","authToken":{"value":"x"}}"#, problem: "with an authToken that is not a string"),
    ]

    /// The critical defect: gettoken said errorCode 0 without a usable token, and the command was
    /// reported succeeded with the token answer's message although changeWorkMode was never called.
    @Test(arguments: unusableTokens)
    func gettokenWithoutAUsableTokenIsATokenFailureNeverASuccess(_ answer: TokenAnswerCase) async throws {
        try await withSimulator(base) { simulator, port in
            try await withClient(makeClient(port: port)) { client in
                simulator.state.setFault(FaultPlan(rawBody: answer.body, count: 1, target: .gettoken))
                let attempt = await client.changeWorkMode(command(.insertion), commandId: "m")
                #expect(attempt.verdict == .retry(retryAfter: nil))
                #expect(!attempt.sentRequest)
                guard case .tokenFailed(let failure) = attempt.exchange else {
                    Issue.record("expected a token failure, got \(attempt.exchange)")
                    return
                }
                #expect(failure.reason.hasPrefix("gettoken answered errorCode"), "\(failure.reason)")
                #expect(failure.reason.contains(answer.problem), "\(failure.reason)")
                #expect(simulator.state.requests.filter { $0.endpoint == "changeWorkMode" }.isEmpty)
                // The failure was not cached: the next attempt fetches a real token and succeeds.
                #expect(await client.changeWorkMode(command(.insertion), commandId: "m").verdict == .succeeded)
            }
        }
    }

    /// A body that trickles one byte every 600 ms (about 29 s in all) is cut at the 3 s timeout: the
    /// timeout bounds the whole exchange, not only the wait for the response head.
    @Test func theTimeoutBoundsATricklingBody() async throws {
        try await withSimulator(base) { simulator, port in
            try await withClient(makeClient(port: port, timeout: .seconds(3))) { client in
                await warmUp(client)
                simulator.state.setFault(
                    FaultPlan(rawBody: #"{"errorCode":"0","errorMsg":"trickled very slowly"}"#, trickleIntervalMs: 600, count: 1))
                let started = ContinuousClock.now
                let attempt = await client.changeWorkMode(command(.insertion), commandId: "m")
                let elapsed = ContinuousClock.now - started
                // Cut by the time limit, whichever exchange it fell on (on a starved machine, the token's).
                #expect(attempt.summary.contains("timeout: no complete answer"), "\(attempt.summary)")
                #expect(attempt.verdict == .retry(retryAfter: nil))
                // 3 s plus slack for a loaded machine; the trickle alone takes about 29 s.
                #expect(elapsed < .seconds(15), "took \(elapsed)")
            }
        }
    }

    /// A command's deadline bounds an attempt below `oifde.timeout`.
    @Test func theDeadlineBoundsAnAttempt() async throws {
        try await withSimulator(base) { simulator, port in
            try await withClient(makeClient(port: port, timeout: .seconds(60))) { client in
                await warmUp(client)
                simulator.state.setFault(FaultPlan(hangSeconds: 60, count: 1))
                let started = ContinuousClock.now
                let attempt = await client.changeWorkMode(command(.insertion), commandId: "m", deadline: .now + .seconds(3))
                // Cut by the time limit, whichever exchange it fell on (on a starved machine, the token's).
                #expect(attempt.summary.contains("timeout: no complete answer"), "\(attempt.summary)")
                #expect(ContinuousClock.now - started < .seconds(20))
            }
        }
    }

    struct BodyCase: Sendable, CustomTestStringConvertible {
        let status: Int
        let body: String
        let summary: String
        var testDescription: String { "\(status) \(body.prefix(20))" }
    }

    static let badBodies: [BodyCase] = [
        .init(status: 200, body: "", summary: "HTTP 200 with an empty body"),
        .init(status: 200, body: "<html>gateway</html>", summary: "HTTP 200 with a body that is not a JSON object (20 bytes)"),
        .init(status: 200, body: String(repeating: "x", count: 70_000), summary: "HTTP 200 with a body over 65536 bytes"),
        .init(status: 204, body: "", summary: "HTTP 204 with no content"),
    ]

    @Test(arguments: badBodies)
    func aTwoHundredWithoutAnAnswerSaysWhatWasWrong(_ row: BodyCase) async throws {
        try await withSimulator(base) { simulator, port in
            try await withClient(makeClient(port: port)) { client in
                simulator.state.setFault(FaultPlan(httpStatus: row.status, rawBody: row.body, count: 1))
                let attempt = await client.changeWorkMode(command(.insertion), commandId: "m")
                #expect(attempt.verdict == .retry(retryAfter: nil))
                #expect(attempt.summary == row.summary)
            }
        }
    }

    @Test func aRedirectEndsTheCommandNamingTheTargetAndTheKey() async throws {
        try await withSimulator(base) { simulator, port in
            try await withClient(makeClient(port: port)) { client in
                simulator.state.setFault(
                    FaultPlan(httpStatus: 302, rawBody: "", location: "https://elsewhere.example/oifde?session=secret", count: 1))
                let attempt = await client.changeWorkMode(command(.insertion), commandId: "m")
                guard case .rejected(let reason) = attempt.verdict else {
                    Issue.record("a redirect is not retried: got \(attempt.verdict)")
                    return
                }
                #expect(reason == "OIFDE answered HTTP 302 redirect to https://elsewhere.example/oifde: check oifde.baseURL")
            }
        }
    }

    @Test func aRefusedConnectionWasNeverSent() async throws {
        // Nothing listens on this port.
        try await withClient(makeClient(port: 1, timeout: .seconds(2))) { client in
            let attempt = await client.changeWorkMode(command(.insertion), commandId: "m")
            guard case .tokenFailed(let failure) = attempt.exchange else {
                Issue.record("expected a token failure, got \(attempt.exchange)")
                return
            }
            #expect(failure.problem == .transport(.connect))
            #expect(!failure.reason.contains("in doubt"))
        }
    }
}
