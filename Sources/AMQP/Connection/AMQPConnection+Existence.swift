extension AMQPConnection {
    /// Whether a queue exists, by a passive declare on a channel of its own (a 404 closes that
    /// channel, not the caller's). Another connection's exclusive queue answers 405, thrown.
    public func queueExists(_ name: String) async throws(AMQPError) -> Bool {
        let channel = try await openChannel()
        do {
            _ = try await channel.checkQueue(name)
        } catch {
            guard error.replyCode == 404 else { throw error }
            return false
        }
        try? await channel.close()
        return true
    }

    /// Whether an exchange exists, the same way.
    public func exchangeExists(_ name: String) async throws(AMQPError) -> Bool {
        let channel = try await openChannel()
        do {
            try await channel.checkExchange(name)
        } catch {
            guard error.replyCode == 404 else { throw error }
            return false
        }
        try? await channel.close()
        return true
    }
}
