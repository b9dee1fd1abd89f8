import AMQP
import Foundation
import GatewayConfig
import WorkModeDomain

/// The dead letters as they are kept: every letter in a stream (`topology.deadLetterQueue`), and
/// every replay or purge as a settlement record in a second stream (`<deadLetterQueue>.settled`).
/// The open dead letters are the letters without a settlement. Reading either stream changes
/// nothing, so any number of readers see the same letters; replays and purges append records,
/// one settler at a time (``SettleLock``). docs/dead-letters.md explains the shape.
struct DeadLetterStore: Sendable {
    let topology: Topology

    var lettersQueue: String { topology.section.deadLetterQueue }
    var settledQueue: String { topology.settledQueue }

    /// The letters and settlements as read at one moment.
    struct Snapshot: Sendable {
        /// Every letter still retained, in stream order, with whether it was settled.
        var letters: [DeadLetter]
        /// Settlement by the offset of the letter it settles.
        var settled: [Int64: Settlement]

        /// Letters without a settlement, in stream order.
        var open: [DeadLetter] { letters.filter { settled[$0.offset ?? -1] == nil } }
    }

    /// A replay or purge of one letter.
    struct Settlement: Sendable {
        /// `replayed` or `purged`.
        let action: String
        let offset: Int64
        let at: Date?
    }

    /// Reads both streams to their ends. A letter is settled only after it was written, and a
    /// reading ends only after the broker had nothing more to deliver for a while, so a
    /// settlement racing the reading can at worst leave its letter shown open once more.
    func snapshot(on connection: AMQPConnection) async throws -> Snapshot {
        try await requireStream(on: connection)
        // Both at once: each read ends with a quiet wait, and the two waits overlap.
        async let settlementReading = StreamReading.read(settledQueue, on: connection)
        async let letterReading = StreamReading.read(lettersQueue, on: connection)
        let (settlements, letters) = try await (settlementReading, letterReading)
        var settled: [Int64: Settlement] = [:]
        for record in settlements {
            guard let settlement = Self.settlement(record.delivery) else { continue }
            settled[settlement.offset] = settlement
        }
        return Snapshot(letters: letters.map { DeadLetter(delivery: $0.delivery, offset: $0.offset) }, settled: settled)
    }

    static func settlement(_ delivery: Delivery) -> Settlement? {
        let headers = delivery.properties.headers ?? FieldTable()
        guard let offset = headers["x-dead-letter-offset"]?.intValue, let action = headers["x-settlement"]?.stringValue else { return nil }
        return Settlement(action: action, offset: offset, at: headers["x-settled-at"]?.stringValue.flatMap(RFC3339.parse))
    }

    /// Appends the record that settles `letter`, and waits for the broker's confirm.
    func settle(_ letter: DeadLetter, action: String, by tool: String, on channel: AMQPChannel) async throws {
        guard let offset = letter.offset else { throw OperatorError(.runtime, "dead letter \(letter.key) has no stream offset") }
        var headers = FieldTable()
        headers["x-dead-letter-offset"] = .int64(offset)
        headers["x-settlement"] = .string(action)
        headers["x-settled-at"] = .string(RFC3339.format(Date()))
        headers["x-settled-by"] = .string(tool)
        headers["x-dead-letter-key"] = .string(letter.key)
        var properties = MessageProperties()
        properties.deliveryMode = .persistent
        properties.contentType = "application/json"
        properties.headers = headers
        let body = #"{"offset":\#(offset),"action":"\#(action)"}"#
        let answer = try await channel.publishAndConfirm(
            Array(body.utf8), exchange: "", routingKey: settledQueue, mandatory: true, properties: properties)
        guard answer == .acked else {
            throw OperatorError(.runtime, "the broker did not take the settlement of \(letter.key) (\(answer)); it stays open")
        }
    }

    // MARK: - shape

    /// What `topology.deadLetterQueue` is in the broker.
    enum Shape: Equatable {
        case stream
        /// The quorum queue of waves 1 and 2: reading it would change it.
        case quorum
        case missing
        case other(String)
    }

    /// Finds the dead-letter queue's type without changing it: a declare with only
    /// `x-queue-type: stream` succeeds on a stream without retention arguments, and on any other
    /// stream fails on a retention argument, not on the type.
    func shape(on connection: AMQPConnection) async throws -> Shape {
        let checker = try await connection.openChannel()
        do {
            _ = try await checker.checkQueue(lettersQueue)
        } catch {
            if error.replyCode == 404 { return .missing }
            throw error
        }
        try? await checker.close()
        if try await Topology.isEarlierQuorumQueue(lettersQueue, on: connection) { return .quorum }
        let probe = try await connection.openChannel()
        do {
            _ = try await probe.declareQueue(lettersQueue, durable: true, arguments: ["x-queue-type": .string("stream")])
            try? await probe.close()
            return .stream
        } catch {
            guard error.replyCode == 406 else { throw error }
            let text = "\(error)"
            return text.contains("'x-queue-type'") ? .other(text) : .stream
        }
    }

    /// Refuses to read anything but a stream, saying what to do.
    func requireStream(on connection: AMQPConnection) async throws {
        switch try await shape(on: connection) {
        case .stream: return
        case .quorum:
            throw OperatorError(
                .runtime,
                "\(lettersQueue) is the quorum queue of an earlier version, which reading would change; run `workmode-gateway dead-letters migrate` to move its letters into a stream"
            )
        case .missing:
            throw OperatorError(.runtime, "\(lettersQueue) does not exist: run `workmode-gateway topology declare`")
        case .other(let text):
            throw OperatorError(.runtime, "\(lettersQueue) is not a stream: \(text)")
        }
    }
}

/// One replay or purge at a time across every process and replica: an exclusive queue
/// (`<deadLetterQueue>.settling`) that only one connection can hold. The broker drops it with its
/// holder's connection, so a killed settler never leaves it taken.
struct SettleLock {
    let name: String
    static let wait: Duration = .seconds(30)

    /// Takes the lock on `connection`, waiting up to ``wait`` for another settler to finish.
    func take(on connection: AMQPConnection) async throws {
        let end = ContinuousClock.now + Self.wait
        while true {
            let channel = try await connection.openChannel()
            do {
                _ = try await channel.declareQueue(name, durable: false, exclusive: true, autoDelete: true)
                return
            } catch {
                // 405 RESOURCE_LOCKED: another connection holds it.
                guard error.replyCode == 405, ContinuousClock.now < end else {
                    if error.replyCode == 405 {
                        throw OperatorError(.runtime, "another replay or purge has held \(name) for \(Self.wait); try again when it ends")
                    }
                    throw error
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
