import Foundation
import Testing

@testable import WorkModeDomain

@Suite(.timeLimit(.minutes(10))) struct AttemptClassifierTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let result: AttemptResult
        let verdict: String
        var testDescription: String { "\(result) → \(verdict)" }
    }

    static let rows: [Row] = [
        Row(result: .init(httpStatus: 200, errorCode: "0"), verdict: "succeeded"),
        Row(result: .init(httpStatus: 200, errorCode: " 0"), verdict: "succeeded"),
        Row(result: .init(httpStatus: 200, errorCode: "900001"), verdict: "refresh"),
        Row(result: .init(httpStatus: 401, errorCode: "900002"), verdict: "refresh"),
        Row(result: .init(httpStatus: 200, errorCode: "10000001"), verdict: "retry"),
        Row(result: .init(httpStatus: 500, errorCode: "200900002"), verdict: "retry"),
        Row(result: .init(httpStatus: 200, errorCode: "10000002"), verdict: "rejected"),
        Row(result: .init(httpStatus: 200, errorCode: "200800003"), verdict: "rejected"),
        Row(result: .init(httpStatus: 400), verdict: "rejected"),
        Row(result: .init(httpStatus: 404), verdict: "rejected"),
        Row(result: .init(httpStatus: 408), verdict: "retry"),
        Row(result: .init(httpStatus: 429, retryAfter: .seconds(3)), verdict: "retry 3"),
        Row(result: .init(httpStatus: 503, retryAfter: .seconds(1)), verdict: "retry 1"),
        Row(result: .init(httpStatus: 502), verdict: "retry"),
        Row(result: .init(httpStatus: 200), verdict: "retry"),
        Row(result: .init(transportError: .timeout), verdict: "retry"),
        Row(result: .init(transportError: .connect), verdict: "retry"),
        // A 2xx whose body was no answer is never a success, whatever else it carried.
        Row(result: .init(httpStatus: 200, errorCode: "0", bodyProblem: "an empty body"), verdict: "retry"),
        Row(result: .init(httpStatus: 204, bodyProblem: "no content"), verdict: "retry"),
        Row(result: .init(httpStatus: 302, location: "https://elsewhere.example/login"), verdict: "rejected"),
        Row(result: .init(httpStatus: 301), verdict: "rejected"),
    ]

    @Test func redirectReasonNamesTheTargetAndTheKey() {
        guard case .rejected(let reason) = AttemptClassifier.classify(.init(httpStatus: 302, location: "https://elsewhere.example/login")) else {
            Issue.record("a redirect is not retried")
            return
        }
        #expect(reason == "OIFDE answered HTTP 302 redirect to https://elsewhere.example/login: check oifde.baseURL")
    }

    @Test func summariesSayWhatWasWrongWithTheBody() {
        #expect(AttemptResult(httpStatus: 200, bodyProblem: "an empty body").summary == "HTTP 200 with an empty body")
        #expect(AttemptResult(transportError: .connectionClosed).summary.contains("in doubt"))
        #expect(!AttemptResult(transportError: .connect).summary.contains("in doubt"))
    }
}

@Suite(.timeLimit(.minutes(10))) struct TokenFailureTests {
    static let problems: [TokenFailure.Problem] = [
        .noToken(errorCode: "0", problem: "without an authToken"), .noToken(errorCode: nil, problem: "with an empty authToken"),
        .transport(.timeout), .transport(.connect), .unreadable(status: 200, problem: "an empty body"),
        .httpStatus(503, errorCode: nil, errorMsg: nil), .httpStatus(401, errorCode: "0", errorMsg: "ok"),
        .refused(errorCode: "200800002", errorMsg: "key wrong"), .refused(errorCode: "10000001", errorMsg: nil),
    ]

    /// The defect this guards: gettoken answered errorCode 0 with no token, and the command was
    /// reported succeeded with the token answer's message. No token failure may ever succeed, and
    /// each names gettoken, never "the change".
    @Test(arguments: problems)
    func aTokenFailureNeverSucceedsAndNamesGettoken(_ problem: TokenFailure.Problem) {
        let failure = TokenFailure(problem)
        #expect(AttemptVerdict(failure.verdict) != .succeeded)
        #expect(failure.reason.hasPrefix("gettoken"), "\(failure.reason)")
        #expect(!failure.reason.contains("refused the change"))
        #expect(failure.errorCode != "0")
    }

    @Test func noTokenIsRetriedAndWrongCredentialsAreNot() {
        #expect(TokenFailure(.noToken(errorCode: "0", problem: "without an authToken")).verdict == .retry(retryAfter: nil))
        #expect(TokenFailure(.transport(.timeout)).verdict == .retry(retryAfter: nil))
        guard case .rejected(let reason) = TokenFailure(.refused(errorCode: "200800002", errorMsg: "key wrong")).verdict else {
            Issue.record("a wrong key is not retried")
            return
        }
        #expect(reason.contains("appSecret"))
    }

    @Test(arguments: AttemptClassifierTests.rows)
    func classify(_ row: AttemptClassifierTests.Row) {
        let verdict: String
        switch AttemptClassifier.classify(row.result) {
        case .succeeded: verdict = "succeeded"
        case .refreshTokenAndRetry: verdict = "refresh"
        case .rejected(let reason):
            verdict = "rejected"
            #expect(!reason.isEmpty)
        case .retry(let after): verdict = after.map { "retry \($0.components.seconds)" } ?? "retry"
        }
        #expect(verdict == row.verdict)
    }
}

@Suite(.timeLimit(.minutes(10))) struct TimingTests {
    let now = Date(timeIntervalSince1970: 1_764_064_800)

    @Test func deadlineFromHeaderRFC3339AndEpochMillis() throws {
        let rfc = try CommandDeadline.resolve(
            xDeadline: .text("2025-11-25T10:00:30+01:00"), timestampSeconds: nil, firstReceipt: now, retryDeadline: .seconds(120)
        ).get()
        #expect(rfc.source == .header)
        #expect(rfc.date == Date(timeIntervalSince1970: 1_764_064_800 - 3600 + 30))
        let millis = try CommandDeadline.resolve(
            xDeadline: .text("1764064830500"), timestampSeconds: 1, firstReceipt: now, retryDeadline: .seconds(120)
        ).get()
        #expect(millis.date == Date(timeIntervalSince1970: 1_764_064_830.5))
        let integer = try CommandDeadline.resolve(
            xDeadline: .milliseconds(1_764_064_830_000), timestampSeconds: nil, firstReceipt: now, retryDeadline: .seconds(1)
        ).get()
        #expect(integer.date == Date(timeIntervalSince1970: 1_764_064_830))
    }

    @Test func deadlineFallsBackToTimestampThenReceipt() throws {
        let byTimestamp = try CommandDeadline.resolve(
            xDeadline: nil, timestampSeconds: 1_764_064_000, firstReceipt: now, retryDeadline: .seconds(120)
        ).get()
        #expect(byTimestamp.source == .timestamp)
        #expect(byTimestamp.date == Date(timeIntervalSince1970: 1_764_064_120))
        #expect(byTimestamp.hasPassed(at: now))
        let byReceipt = try CommandDeadline.resolve(xDeadline: nil, timestampSeconds: nil, firstReceipt: now, retryDeadline: .milliseconds(1500))
            .get()
        #expect(byReceipt.source == .firstReceipt)
        #expect(byReceipt.date == now.addingTimeInterval(1.5))
        #expect(!byReceipt.hasPassed(at: now))
    }

    @Test func aTimestampInTheFutureCannotExtendTheDeadline() throws {
        let yearAhead = UInt64(now.timeIntervalSince1970) + 365 * 86400
        let deadline = try CommandDeadline.resolve(xDeadline: nil, timestampSeconds: yearAhead, firstReceipt: now, retryDeadline: .seconds(10)).get()
        #expect(deadline.date == now.addingTimeInterval(10))
        #expect(deadline.source == .firstReceipt)
        let past = try CommandDeadline.resolve(
            xDeadline: nil, timestampSeconds: UInt64(now.timeIntervalSince1970) - 5, firstReceipt: now, retryDeadline: .seconds(10)
        ).get()
        #expect(past.date == now.addingTimeInterval(5))
    }

    @Test(arguments: ["timestamp", "floating-point number", "boolean", "table", "array", "void"])
    func otherHeaderTypesAreInvalid(_ type: String) {
        let result = CommandDeadline.resolve(
            xDeadline: .unsupported(type: type), timestampSeconds: nil, firstReceipt: now, retryDeadline: .seconds(1))
        guard case .failure(let error) = result else {
            Issue.record("a \(type) x-deadline must be refused")
            return
        }
        #expect(error.code == .invalidHeader)
        #expect(error.message.contains(type))
    }

    @Test(arguments: ["2027-02-31T00:00:00Z", "2026-12-32T00:00:00Z", "2027-02-29T00:00:00Z", "2026-04-31T10:00:00Z", "2100-02-29T00:00:00Z"])
    func daysThatDoNotExistAreRefused(_ text: String) {
        #expect(RFC3339.parse(text) == nil, "\(text)")
    }

    @Test func leapDaysExist() {
        #expect(RFC3339.parse("2028-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2000-02-29T00:00:00Z") != nil)
    }

    @Test(arguments: ["tomorrow", "2025-13-01T00:00:00Z", "2027-02-31T00:00:00Z", "2025-11-25T10:00:00", "", "-5", "12345678901234567890"])
    func unreadableDeadlineIsAValidationError(_ text: String) {
        let result = CommandDeadline.resolve(xDeadline: .text(text), timestampSeconds: nil, firstReceipt: now, retryDeadline: .seconds(1))
        guard case .failure(let error) = result else {
            Issue.record("\(text) must be refused")
            return
        }
        #expect(error.code == .invalidHeader)
    }

    @Test func rfc3339RoundTripsAndHandlesFractions() {
        for seconds in [0.0, 951_782_400.5, 1_764_064_800.123, 4_102_444_799.999] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = RFC3339.format(date)
            #expect(RFC3339.parse(text).map { abs($0.timeIntervalSince(date)) < 0.001 } == true, "\(text)")
        }
        #expect(RFC3339.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(RFC3339.parse("2026-11-25t10:00:00.5z") == Date(timeIntervalSince1970: 1_795_600_800.5))
    }

    @Test func backoffCeilingDoublesUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        #expect(backoff.ceiling(afterAttempt: 1) == .milliseconds(200))
        #expect(backoff.ceiling(afterAttempt: 2) == .milliseconds(400))
        #expect(backoff.ceiling(afterAttempt: 5) == .milliseconds(3200))
        #expect(backoff.ceiling(afterAttempt: 6) == .seconds(5))
        #expect(backoff.ceiling(afterAttempt: 1000) == .seconds(5))
    }

    @Test func backoffIsJitteredAndNeverPassesTheDeadline() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var random = SplitMix64(seed: 7)
        var delays: Set<Duration> = []
        for attempt in 1...8 {
            for _ in 0..<50 {
                guard
                    let delay = backoff.delay(afterAttempt: attempt, retryAfter: nil, timeLeft: .seconds(60), using: &random)
                else {
                    Issue.record("a delay fits well within 60 s")
                    continue
                }
                let ceiling = backoff.ceiling(afterAttempt: attempt)
                #expect(delay >= ceiling / 2 && delay <= ceiling, "between half the ceiling and the ceiling")
                delays.insert(delay)
            }
        }
        #expect(delays.count > 300)
        #expect(
            backoff.delay(afterAttempt: 1, retryAfter: .seconds(2), timeLeft: .seconds(10), using: &random) == .seconds(2))
        #expect(backoff.delay(afterAttempt: 1, retryAfter: .seconds(20), timeLeft: .seconds(10), using: &random) == nil)
        #expect(backoff.delay(afterAttempt: 9, retryAfter: nil, timeLeft: .zero, using: &random) == nil)
    }
}

@Suite(.timeLimit(.minutes(10))) struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9090", "127.0.0.1", 9090), ("localhost:0", "localhost", 0), ("[::1]:9090", "::1", 9090),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
    ])
    func parses(_ text: String, _ host: String, _ port: Int) {
        #expect(ListenAddress(text) == ListenAddress(host: host, port: port))
        #expect(ListenAddress(text)?.description == text)
    }

    @Test(arguments: [
        "localhost", ":9090", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "::1:9090", "[::1:9090", "127.0.0.1:-1", "a b:80", "[]:80",
    ])
    func refuses(_ text: String) {
        #expect(ListenAddress(text) == nil, "\(text)")
    }

    @Test func loopback() {
        #expect(ListenAddress("127.0.0.2:1")?.isLoopback == true)
        #expect(ListenAddress("[::1]:1")?.isLoopback == true)
        #expect(ListenAddress("0.0.0.0:1")?.isLoopback == false)
    }
}
