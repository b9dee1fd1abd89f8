internal import CRabbitMQ

extension FieldTable {
    /// Encodes through librabbitmq's own table encoder and decodes the bytes back: the exact path a
    /// table takes to and from the broker, without a broker. Used by the tests.
    func roundTripThroughLibrabbitmq() -> FieldTable? {
        let arena = CArena()
        let cTable = arena.table(self)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        let encoded = buffer.withUnsafeMutableBytes { raw -> Int32 in
            var table = cTable
            return amqp_encode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &table, &offset)
        }
        guard encoded == 0 else { return nil }
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var decodedTable = amqp_table_t()
        var readOffset = 0
        let decoded = buffer.withUnsafeMutableBytes { raw -> Int32 in
            let source = amqp_bytes_t(len: offset, bytes: raw.baseAddress)
            return amqp_decode_table(source, &pool, &decodedTable, &readOffset)
        }
        guard decoded == 0 else { return nil }
        return FieldTable(copying: decodedTable)
    }
}
