/// The OIFDE connection pool at one instant: what `wmg_oifde_connections` and
/// `wmg_oifde_connection_waiters` export.
public struct ConnectionStatistics: Sendable, Hashable {
    /// Connections open or being opened.
    public let open: Int
    /// Open connections no request is using.
    public let idle: Int
    /// Requests waiting for a connection (the pool is at `oifde.maxConnections`).
    public let waiting: Int

    /// Connections carrying a request now.
    public var inUse: Int { max(0, open - idle) }
}
