import AMQP
import Foundation
import GatewayConfig
import Logging
import PipelineCore
import Synchronization

/// Publishes what one command owes and settles its delivery, as ``Settlement`` (PipelineCore)
/// says, driven by the broker's confirms.
///
/// The confirms arrive on the publisher connection's thread, and the run answers them there: when
/// the last owed message is confirmed, the ack is handed to the consumer connection at once and
/// `ended` runs, with no task woken in between. Only a refusal (a pause before publishing again)
/// or a publishing channel being reopened goes through a task.
final class SettlementDriver: Sendable {
    private struct State {
        var settlement: Settlement
        /// The pause before publishing refused messages again, or the wait for a reopened channel.
        var task: Task<Void, Never>?
        var refusal = ""
        var lostBecause: String?
    }

    private let owed: [CommandProcessor.Owed]
    private let session: BrokerSession
    private let processor: CommandProcessor
    private let commandId: String
    /// Runs once, with true when every owed message was confirmed (ack) and false to requeue.
    private let ended: @Sendable (Bool) -> Void
    private let state: Mutex<State>

    init(
        owed: [CommandProcessor.Owed], session: BrokerSession, processor: CommandProcessor, commandId: String,
        ended: @escaping @Sendable (Bool) -> Void
    ) {
        self.owed = owed
        self.session = session
        self.processor = processor
        self.commandId = commandId
        self.ended = ended
        self.state = Mutex(State(settlement: Settlement(owed: owed.count)))
    }

    func start() {
        session.track(self)
        act(state.withLock { $0.settlement.start() })
    }

    /// The drain ran out of time, or the session is over: requeue unless already settled.
    func abandon(because why: String) { lose(why) }

    private func act(_ action: Settlement.Action) {
        switch action {
        case .ack(let release):
            end(published: true, release: release)
        case .requeue(let release):
            end(published: false, release: release)
        case .publish(let indices):
            if let channel = session.openPublishingChannel {
                publish(indices, on: channel)
            } else {
                runTask {
                    do {
                        self.publish(indices, on: try await self.session.publishingChannel())
                    } catch {
                        self.lose("\(error)")
                    }
                }
            }
        case .pause(let wait):
            pause(wait)
        }
    }

    private func publish(_ indices: [Int], on channel: AMQPChannel) {
        let now = UInt64(Date().timeIntervalSince1970)
        let deadLetterExchange = processor.configuration.topology.deadLetterExchange
        let messages = indices.map { index in
            let message = owed[index]
            var properties = message.properties
            if message.exchange != deadLetterExchange { properties.timestamp = now }
            return OutgoingMessage(
                body: message.body, exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory,
                properties: properties)
        }
        let confirmations: [PublishConfirmation]
        do {
            confirmations = try channel.publish(messages)
        } catch {
            lose("\(error)")
            return
        }
        let sentAt = ContinuousClock.now
        for (index, confirmation) in zip(indices, confirmations) {
            confirmation.whenResolved { [self] outcome in
                if case .success = outcome {
                    processor.metrics.confirmed(after: ContinuousClock.now - sentAt)
                }
                confirmed(index, outcome)
            }
        }
    }

    private func confirmed(_ index: Int, _ outcome: Result<PublishOutcome, AMQPError>) {
        let what = owed[index].what
        var random = SystemRandomNumberGenerator()
        let next = state.withLock { state -> Settlement.Action? in
            switch outcome {
            case .success(.acked):
                return state.settlement.confirmed(index, .acked, random: &random)
            case .success(.nacked):
                state.refusal = "\(what) nacked by the broker (a full queue with x-overflow reject-publish?)"
                return state.settlement.confirmed(index, .refused, random: &random)
            case .success(.returned(let code, let text)):
                state.refusal = "\(what) returned unroutable (\(code) \(text)): is the dead-letter queue bound?"
                return state.settlement.confirmed(index, .refused, random: &random)
            case .failure(let error):
                state.lostBecause = "\(error)"
                return state.settlement.lost()
            }
        }
        if let next { act(next) }
    }

    /// The channel, the connection or the session is gone: requeue unless already settled. The
    /// first reason is the one logged.
    private func lose(_ why: String) {
        let next = state.withLock { state -> Settlement.Action? in
            state.task?.cancel()
            if state.lostBecause == nil { state.lostBecause = why }
            return state.settlement.lost()
        }
        if let next { act(next) }
    }

    private func pause(_ wait: FaultRetry.Wait) {
        if wait.holdsPause {
            let refusal = state.withLock { $0.refusal }
            processor.pauses.hold(.publish, detail: refusal)
            processor.logger.error(
                "the broker refused a publish; holding the command and publishing again",
                metadata: ["commandId": "\(commandId)", "refused": "\(refusal)"])
        }
        runTask {
            let slept = (try? await Task.sleep(for: wait.delay)) != nil
            let open = self.session.isOpen
            let next = self.state.withLock { state -> Settlement.Action? in
                guard !state.settlement.isSettled else { return nil }
                return slept && open ? state.settlement.resumed() : state.settlement.lost()
            }
            if let next { self.act(next) }
        }
    }

    /// Runs `body` in a task that `abandon()` cancels.
    private func runTask(_ body: @escaping @Sendable () async -> Void) {
        let task = Task { await body() }
        let settled = state.withLock { state -> Bool in
            state.task = task
            return state.settlement.isSettled
        }
        if settled { task.cancel() }
    }

    private func end(published: Bool, release: FaultRetry.Release?) {
        let lostBecause = state.withLock { $0.lostBecause }
        session.untrack(self)
        if let release { processor.pauses.release(release) }
        if !published {
            processor.logger.warning(
                "publishing the result failed; the command goes back to the queue",
                metadata: ["commandId": "\(commandId)", "error": "\(lostBecause ?? "")"])
        }
        ended(published)
    }
}
