import Foundation

/// A value in an AMQP field table or array (AMQP 0-9-1 with RabbitMQ's type letters).
///
/// Strings are long strings (`S`); ``bytes(_:)`` are byte arrays (`x`). Timestamps are whole seconds,
/// as on the wire.
public indirect enum FieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(scale: UInt8, value: UInt32)
    case string(String)
    case bytes([UInt8])
    case array([FieldValue])
    case table(FieldTable)
    /// Seconds since the Unix epoch.
    case timestamp(UInt64)
    case void
}

extension FieldValue {
    /// The value as a string, for `S` and for `x` holding valid UTF-8.
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(validating: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The value as a signed integer, for every integer kind that fits.
    public var intValue: Int64? {
        switch self {
        case .int8(let v): return Int64(v)
        case .uint8(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int64(let v): return v
        case .uint64(let v): return Int64(exactly: v)
        case .timestamp(let v): return Int64(exactly: v)
        default: return nil
        }
    }
}
