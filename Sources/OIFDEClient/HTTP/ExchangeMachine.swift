/// The rules of one OIFDE connection's exchanges, one request at a time (events in, actions out;
/// ``ExchangeHandler`` feeds it from the channel and does what it answers). What it decides:
/// whether a request may go into the connection, when an answer is complete and whether the
/// connection may carry the next request, and what each way of ending means for the request:
/// provably not sent, or in doubt (docs/contract.md section 14).
struct ExchangeMachine: Sendable {
    enum Action: Sendable, Equatable {
        case none
        /// Give the request in progress its outcome.
        case complete(ExchangeCompletion.Outcome)
        /// Give the outcome and close the connection: it cannot carry another request.
        case completeAndClose(ExchangeCompletion.Outcome)
        /// Close the connection; no request is waiting.
        case close
    }

    /// How the channel failed, as far as the rules care.
    enum Failure: Sendable, Equatable {
        /// A TLS peer closed without close_notify.
        case uncleanTLSShutdown
        /// A fatal TLS alert from the peer.
        case receivedAlert
        /// Any other TLS error.
        case tls
        /// The connection ended before the answer did (the HTTP decoder's end of file).
        case endOfFileMidAnswer
        /// Bytes that are not an HTTP answer.
        case malformed
        case other
    }

    let maxBytes: Int
    private var inProgress = false
    private var answer = HTTPAnswer(status: 0)
    private var keepAlive = true
    /// The whole request is in the socket: an answer before that leaves the connection unusable.
    private var requestWritten = false
    /// A response head arrived for the exchange in progress.
    private var answering = false
    /// Requests this connection has carried, the one in progress included.
    private(set) var exchanges = 0

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    var isIdle: Bool { !inProgress }

    /// A request asks to go into the connection; nil when it may, else why it was not sent.
    mutating func start(keepAlive: Bool, channelActive: Bool) -> HTTPExchangeError? {
        // The pool leases a connection to one request at a time; a second one is a bug, never sent.
        guard !inProgress else { return .connect }
        // The server closed the idle connection before this request reached it: provably not sent.
        guard channelActive else { return .closedBeforeSending }
        inProgress = true
        answer = HTTPAnswer(status: 0)
        self.keepAlive = keepAlive
        requestWritten = false
        answering = false
        exchanges += 1
        return nil
    }

    /// The last byte of the request is in the socket.
    mutating func written() { if inProgress { requestWritten = true } }

    mutating func head(status: Int, keepAlive: Bool, contentLength: Int?, retryAfter: Duration?, location: String?) -> Action {
        // Bytes nobody asked for: the connection cannot be trusted with the next request.
        guard inProgress else { return .close }
        answering = true
        answer.status = status
        answer.retryAfter = retryAfter
        answer.location = location
        self.keepAlive = self.keepAlive && keepAlive
        if let contentLength, contentLength > maxBytes { return oversized() }
        return .none
    }

    mutating func body(_ bytes: some Collection<UInt8>) -> Action {
        guard inProgress else { return .close }
        guard answer.body.count + bytes.count <= maxBytes else { return oversized() }
        answer.body.append(contentsOf: bytes)
        return .none
    }

    mutating func end() -> Action {
        guard inProgress else { return .close }
        // An answer that came before the whole request was written (a server refusing early)
        // leaves the rest of the request in flight: the connection cannot carry another.
        answer.reusable = keepAlive && requestWritten
        let complete = answer
        finish()
        return complete.reusable ? .complete(.success(complete)) : .completeAndClose(.success(complete))
    }

    /// The exchange's deadline passed.
    mutating func deadlinePassed() -> Action {
        guard inProgress else { return .none }
        finish()
        return .completeAndClose(.failure(.timeout))
    }

    /// The pool ends the exchange (its task was cancelled, the pool shuts down).
    mutating func aborted(_ error: HTTPExchangeError) -> Action {
        guard inProgress else { return .close }
        finish()
        return .completeAndClose(.failure(error))
    }

    /// The connection closed.
    mutating func inactive() -> Action {
        // Closed under a request that was (at least partly) written: it may have been applied.
        guard inProgress else { return .none }
        finish()
        return .complete(.failure(.connectionClosed))
    }

    mutating func failed(_ failure: Failure) -> Action {
        // For an answer read to the connection's end, a TLS peer's close without close_notify is
        // that end, which the HTTP decoder delivers on the close that follows.
        if failure == .uncleanTLSShutdown, answering { return .none }
        guard inProgress else { return .close }
        let error: HTTPExchangeError
        switch failure {
        case .receivedAlert where !answering && exchanges == 1:
            // TLS 1.3 finishes the client's side of the handshake before the server checks it (a
            // client certificate it requires, say): a fatal alert in answer to the first request
            // means the server refused the session and never read the request.
            error = .tlsHandshake
        case .malformed:
            error = .badResponse
        case .uncleanTLSShutdown, .receivedAlert, .tls, .endOfFileMidAnswer, .other:
            // The handshake is over before a connection is handed out: a TLS error here is a lost
            // connection (cut mid-answer), not a failed handshake.
            error = .connectionClosed
        }
        finish()
        return .completeAndClose(.failure(error))
    }

    /// The server answered with more than an answer can hold: an answer (oversized), not a
    /// transport problem; the rest is not read, so the connection goes.
    private mutating func oversized() -> Action {
        answer.oversized = true
        answer.reusable = false
        let complete = answer
        finish()
        return .completeAndClose(.success(complete))
    }

    private mutating func finish() { inProgress = false }
}
