/// An AMQP field table: ordered key/value pairs, as used for headers and declare arguments.
///
/// Order is kept as received; lookups by key return the first match.
public struct FieldTable: Sendable, Hashable, ExpressibleByDictionaryLiteral, RandomAccessCollection {
    /// A name and its value.
    public struct Entry: Sendable, Hashable {
        /// The field name (an AMQP short string, at most 255 bytes).
        public var key: String
        /// The field value.
        public var value: FieldValue

        /// One entry; keys may repeat on the wire, and order is kept.
        public init(key: String, value: FieldValue) {
            self.key = key
            self.value = value
        }
    }

    /// The entries in wire order.
    public private(set) var entries: [Entry]

    /// An empty table.
    public init() { self.entries = [] }

    /// A table with these entries, in this order.
    public init(_ entries: [Entry]) { self.entries = entries }

    /// `["x-deadline": .string("…")]`, in the written order.
    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        self.entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    /// The first entry's position.
    public var startIndex: Int { entries.startIndex }
    /// One past the last entry's position.
    public var endIndex: Int { entries.endIndex }
    /// The entry at `position`.
    public subscript(position: Int) -> Entry { entries[position] }

    /// The value of the first entry with this key; setting replaces it in place, or appends.
    /// Setting `nil` removes every entry with the key.
    public subscript(key: String) -> FieldValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            guard let newValue else {
                entries.removeAll { $0.key == key }
                return
            }
            if let index = entries.firstIndex(where: { $0.key == key }) {
                entries[index].value = newValue
            } else {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }
}
