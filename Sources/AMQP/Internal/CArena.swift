internal import CRabbitMQ
import Foundation

/// Owns the C memory built for one librabbitmq call (strings, tables, property structs).
///
/// librabbitmq copies whatever it is given into its own buffers before the call returns, so the
/// arena is reset right after each call. Only the connection thread uses an arena.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { reset() }

    func reset() {
        for pointer in allocations { free(pointer) }
        allocations.removeAll(keepingCapacity: true)
    }

    private func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        // malloc(0) may return NULL; always ask for at least one byte.
        guard let pointer = malloc(max(byteCount, 1)) else {
            // Out of memory: the process cannot do anything useful any more.
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        allocations.append(pointer)
        return pointer
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var copy = string
        return copy.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ source: [UInt8]) -> amqp_bytes_t {
        source.withUnsafeBytes { bytes($0) }
    }

    func bytes(_ source: UnsafeRawBufferPointer) -> amqp_bytes_t {
        guard source.count > 0, let base = source.baseAddress else { return amqp_bytes_t(len: 0, bytes: nil) }
        let pointer = allocate(source.count)
        pointer.copyMemory(from: base, byteCount: source.count)
        return amqp_bytes_t(len: source.count, bytes: pointer)
    }

    /// A NUL-terminated copy, for the few calls that take `const char *`.
    func cString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = Array(string.utf8)
        let pointer = allocate(utf8.count + 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
        for (index, byte) in utf8.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        pointer[utf8.count] = 0
        return UnsafePointer(pointer)
    }

    func table(_ table: FieldTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        for (index, entry) in table.enumerated() {
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(entry.key), value: value(entry.value)))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func value(_ value: FieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) { field.kind = UInt8(truncatingIfNeeded: k.rawValue) }
        switch value {
        case .bool(let v):
            kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .uint8(let v):
            kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .int16(let v):
            kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .uint16(let v):
            kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .int32(let v):
            kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .uint32(let v):
            kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .int64(let v):
            kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .uint64(let v):
            kind(AMQP_FIELD_KIND_U64)
            field.value.u64 = v
        case .float(let v):
            kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .double(let v):
            kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let scale, let v):
            kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .string(let v):
            kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(v)
        case .bytes(let v):
            kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(v)
        case .array(let values):
            kind(AMQP_FIELD_KIND_ARRAY)
            if values.isEmpty {
                field.value.array = amqp_array_t(num_entries: 0, entries: nil)
            } else {
                let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * values.count)
                    .bindMemory(to: amqp_field_value_t.self, capacity: values.count)
                for (index, element) in values.enumerated() { (entries + index).initialize(to: self.value(element)) }
                field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
            }
        case .table(let t):
            kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(t)
        case .timestamp(let v):
            kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = v
        case .void: kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }
}
