internal import CRabbitMQ

/// Decoding from librabbitmq's structures. Everything is copied: the C memory belongs to a pool
/// that the connection recycles after the current frame.
extension FieldTable {
    /// Hostile peers can nest tables without limit; 0.11 does not bound it, so this side does.
    static let maximumNestingDepth = 64

    init(copying table: amqp_table_t, depth: Int = 0) {
        var entries: [Entry] = []
        let count = Int(Swift.max(table.num_entries, 0))
        entries.reserveCapacity(count)
        if let base = table.entries {
            for index in 0..<count {
                let entry = base[index]
                entries.append(Entry(key: String(copyingText: entry.key), value: FieldValue(copying: entry.value, depth: depth)))
            }
        }
        self.init(entries)
    }
}

extension FieldValue {
    init(copying field: amqp_field_value_t, depth: Int = 0) {
        guard depth < FieldTable.maximumNestingDepth else {
            self = .void
            return
        }
        func isKind(_ k: amqp_field_value_kind_t) -> Bool { field.kind == UInt8(truncatingIfNeeded: k.rawValue) }
        if isKind(AMQP_FIELD_KIND_BOOLEAN) {
            self = .bool(field.value.boolean != 0)
        } else if isKind(AMQP_FIELD_KIND_I8) {
            self = .int8(field.value.i8)
        } else if isKind(AMQP_FIELD_KIND_U8) {
            self = .uint8(field.value.u8)
        } else if isKind(AMQP_FIELD_KIND_I16) {
            self = .int16(field.value.i16)
        } else if isKind(AMQP_FIELD_KIND_U16) {
            self = .uint16(field.value.u16)
        } else if isKind(AMQP_FIELD_KIND_I32) {
            self = .int32(field.value.i32)
        } else if isKind(AMQP_FIELD_KIND_U32) {
            self = .uint32(field.value.u32)
        } else if isKind(AMQP_FIELD_KIND_I64) {
            self = .int64(field.value.i64)
        } else if isKind(AMQP_FIELD_KIND_U64) {
            self = .uint64(field.value.u64)
        } else if isKind(AMQP_FIELD_KIND_F32) {
            self = .float(field.value.f32)
        } else if isKind(AMQP_FIELD_KIND_F64) {
            self = .double(field.value.f64)
        } else if isKind(AMQP_FIELD_KIND_DECIMAL) {
            self = .decimal(scale: field.value.decimal.decimals, value: field.value.decimal.value)
        } else if isKind(AMQP_FIELD_KIND_UTF8) {
            // A long string that is not UTF-8 is kept byte for byte rather than repaired.
            let raw = [UInt8](copying: field.value.bytes)
            self = String(validating: raw, as: UTF8.self).map(FieldValue.string) ?? .bytes(raw)
        } else if isKind(AMQP_FIELD_KIND_BYTES) {
            self = .bytes([UInt8](copying: field.value.bytes))
        } else if isKind(AMQP_FIELD_KIND_ARRAY) {
            var values: [FieldValue] = []
            let count = Int(Swift.max(field.value.array.num_entries, 0))
            if let base = field.value.array.entries {
                values.reserveCapacity(count)
                for index in 0..<count { values.append(FieldValue(copying: base[index], depth: depth + 1)) }
            }
            self = .array(values)
        } else if isKind(AMQP_FIELD_KIND_TABLE) {
            self = .table(FieldTable(copying: field.value.table, depth: depth + 1))
        } else if isKind(AMQP_FIELD_KIND_TIMESTAMP) {
            self = .timestamp(field.value.u64)
        } else {
            self = .void
        }
    }
}

extension [UInt8] {
    init(copying bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }
}

extension String {
    /// Protocol short strings are not required to be UTF-8; invalid sequences are replaced, since
    /// these are names (exchange, routing key, tags), not payload.
    init(copyingText bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}
