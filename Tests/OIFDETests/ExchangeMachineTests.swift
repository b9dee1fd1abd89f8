import Testing

@testable import OIFDEClient

/// The request/connection rules without a socket: what each way an exchange can go means for the
/// request (answered, provably not sent, in doubt) and for the connection (reusable or closed).
@Suite struct ExchangeMachineTests {
    static func started(maxBytes: Int = 1024, keepAlive: Bool = true) -> ExchangeMachine {
        var machine = ExchangeMachine(maxBytes: maxBytes)
        #expect(machine.start(keepAlive: keepAlive, channelActive: true) == nil)
        return machine
    }

    static func answer(_ status: Int, _ body: String, reusable: Bool, oversized: Bool = false) -> ExchangeCompletion.Outcome {
        var answer = HTTPAnswer(status: status)
        answer.body = Array(body.utf8)
        answer.reusable = reusable
        answer.oversized = oversized
        return .success(answer)
    }

    @Test func aKeepAliveAnswerAfterTheWholeRequestLeavesTheConnectionReusable() {
        var machine = Self.started()
        machine.written()
        #expect(machine.head(status: 200, keepAlive: true, contentLength: 2, retryAfter: nil, location: nil) == .none)
        #expect(machine.body(Array("ok".utf8)) == .none)
        #expect(machine.end() == .complete(Self.answer(200, "ok", reusable: true)))
        #expect(machine.isIdle)
        #expect(machine.start(keepAlive: true, channelActive: true) == nil, "the next request may go")
        #expect(machine.exchanges == 2)
    }

    @Test func connectionCloseFromEitherSideEndsTheConnectionAfterTheAnswer() {
        var server = Self.started()
        server.written()
        _ = server.head(status: 200, keepAlive: false, contentLength: nil, retryAfter: nil, location: nil)
        #expect(server.end() == .completeAndClose(Self.answer(200, "", reusable: false)), "Connection: close, or HTTP/1.0")
        var client = Self.started(keepAlive: false)
        client.written()
        _ = client.head(status: 200, keepAlive: true, contentLength: nil, retryAfter: nil, location: nil)
        #expect(client.end() == .completeAndClose(Self.answer(200, "", reusable: false)))
    }

    @Test func anAnswerBeforeTheRequestIsWrittenClosesTheConnection() {
        var machine = Self.started()
        _ = machine.head(status: 413, keepAlive: true, contentLength: 0, retryAfter: nil, location: nil)
        #expect(machine.end() == .completeAndClose(Self.answer(413, "", reusable: false)), "the rest of the request is still in flight")
    }

    @Test func anOversizedAnswerIsAnAnswerAndTheConnectionGoes() {
        var announced = Self.started(maxBytes: 4)
        announced.written()
        #expect(
            announced.head(status: 200, keepAlive: true, contentLength: 5, retryAfter: nil, location: nil)
                == .completeAndClose(Self.answer(200, "", reusable: false, oversized: true)))
        var streamed = Self.started(maxBytes: 4)
        streamed.written()
        _ = streamed.head(status: 200, keepAlive: true, contentLength: nil, retryAfter: nil, location: nil)
        #expect(streamed.body(Array("abc".utf8)) == .none)
        #expect(streamed.body(Array("de".utf8)) == .completeAndClose(Self.answer(200, "abc", reusable: false, oversized: true)))
        #expect(streamed.body(Array("f".utf8)) == .close, "the rest is not read")
    }

    @Test func aRequestIntoAClosedOrBusyConnectionIsNotSent() {
        var closed = ExchangeMachine(maxBytes: 16)
        #expect(closed.start(keepAlive: true, channelActive: false) == .closedBeforeSending)
        #expect(closed.isIdle)
        var busy = Self.started()
        #expect(busy.start(keepAlive: true, channelActive: true) == .connect)
    }

    @Test func aConnectionLostUnderARequestLeavesItInDoubt() {
        var beforeAnswer = Self.started()
        beforeAnswer.written()
        #expect(beforeAnswer.inactive() == .complete(.failure(.connectionClosed)))
        var midAnswer = Self.started()
        midAnswer.written()
        _ = midAnswer.head(status: 200, keepAlive: true, contentLength: 10, retryAfter: nil, location: nil)
        #expect(midAnswer.failed(.endOfFileMidAnswer) == .completeAndClose(.failure(.connectionClosed)))
        var idle = ExchangeMachine(maxBytes: 16)
        #expect(idle.inactive() == .none, "an idle connection closing concerns no request")
    }

    @Test func aTLSPeerThatDropsMidAnswerLostTheConnectionNotTheHandshake() {
        var machine = Self.started()
        machine.written()
        _ = machine.head(status: 200, keepAlive: true, contentLength: 10, retryAfter: nil, location: nil)
        #expect(machine.failed(.tls) == .completeAndClose(.failure(.connectionClosed)))
        var beforeAnswer = Self.started()
        beforeAnswer.written()
        #expect(beforeAnswer.failed(.uncleanTLSShutdown) == .completeAndClose(.failure(.connectionClosed)))
    }

    @Test func aBodyReadToCloseOverTLSEndsWithTheDecodersEndNotAnError() {
        var machine = Self.started()
        machine.written()
        _ = machine.head(status: 200, keepAlive: false, contentLength: nil, retryAfter: nil, location: nil)
        #expect(machine.body(Array("{}".utf8)) == .none)
        #expect(machine.failed(.uncleanTLSShutdown) == .none, "no close_notify: the end of the body")
        #expect(machine.end() == .completeAndClose(Self.answer(200, "{}", reusable: false)))
    }

    @Test func aFatalAlertToTheFirstRequestIsARefusedHandshake() {
        var first = Self.started()
        first.written()
        #expect(first.failed(.receivedAlert) == .completeAndClose(.failure(.tlsHandshake)), "the server never read it")
        var later = Self.started()
        later.written()
        _ = later.head(status: 200, keepAlive: true, contentLength: 0, retryAfter: nil, location: nil)
        _ = later.end()
        #expect(later.start(keepAlive: true, channelActive: true) == nil)
        #expect(later.failed(.receivedAlert) == .completeAndClose(.failure(.connectionClosed)), "a second request may have been read")
    }

    @Test func garbageIsABadResponseAndUnaskedBytesCloseTheConnection() {
        var machine = Self.started()
        machine.written()
        #expect(machine.failed(.malformed) == .completeAndClose(.failure(.badResponse)))
        var idle = ExchangeMachine(maxBytes: 16)
        #expect(idle.head(status: 200, keepAlive: true, contentLength: 0, retryAfter: nil, location: nil) == .close)
    }

    @Test func theDeadlineAndAnAbortEndTheRequestAndTheConnection() {
        var late = Self.started()
        late.written()
        #expect(late.deadlinePassed() == .completeAndClose(.failure(.timeout)))
        #expect(late.deadlinePassed() == .none, "once")
        var cancelled = Self.started()
        #expect(cancelled.aborted(.cancelled) == .completeAndClose(.failure(.cancelled)))
        #expect(cancelled.inactive() == .none, "already ended")
    }

    @Test func interimAnswersAreNotTheAnswer() {
        // NIO's decoder passes 1xx heads through before the final one; the final one counts.
        var machine = Self.started()
        machine.written()
        _ = machine.head(status: 103, keepAlive: true, contentLength: nil, retryAfter: nil, location: nil)
        _ = machine.head(status: 200, keepAlive: true, contentLength: 2, retryAfter: nil, location: nil)
        _ = machine.body(Array("ok".utf8))
        #expect(machine.end() == .complete(Self.answer(200, "ok", reusable: true)))
    }
}
