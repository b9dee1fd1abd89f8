/// The completion journal's index: at most `capacity` entries keyed by a 64-bit hash of the
/// command ID, kept in first-insertion order; a new key at capacity evicts the oldest.
///
/// The entries sit in a ring that is the insertion order itself, and an open-addressing table
/// (linear probing, at most three quarters full) maps keys to ring positions in 4 bytes a bucket.
/// At the default capacity of 100,000 this is 3.2 MB of entries and 1 MiB of table, where a
/// `[UInt64: Entry]` dictionary plus an order list took about 10 MB: the dictionary doubled to
/// 262,144 buckets of 32 bytes just below the capacity.
struct JournalIndex {
    struct Entry: Equatable {
        var key: UInt64
        var location: CompletionJournal.Location
        /// The location holds the completion record (else the latest start).
        var completed: Bool
        /// Seconds since 1970 of the latest record, for the TTL.
        var at: Double
    }

    let capacity: Int
    /// Grows to `capacity`, then wraps: `head` is the oldest entry's position once full.
    private var ring: [Entry] = []
    private var head = 0
    /// Ring positions; -1 marks an empty bucket.
    private var table: [Int32]
    private var shift: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        table = Array(repeating: -1, count: 16)
        shift = 64 - 4
    }

    /// An index over `entries` (oldest first, keys distinct), taking the array over as its ring
    /// rather than copying it: a compaction builds the new index next to the live one.
    init(ordered entries: [Entry], capacity: Int) {
        self.init(capacity: capacity)
        ring = entries.count > self.capacity ? Array(entries.suffix(self.capacity)) : entries
        var buckets = 16
        while ring.count * 4 > buckets * 3 { buckets *= 2 }
        table = Array(repeating: -1, count: buckets)
        shift = 64 - buckets.trailingZeroBitCount
        for (position, entry) in ring.enumerated() { insertIntoTable(entry.key, position: position) }
    }

    var count: Int { ring.count }

    /// Oldest first.
    var entries: [Entry] {
        guard head > 0 else { return ring }
        return Array(ring[head...] + ring[..<head])
    }

    subscript(key: UInt64) -> Entry? {
        guard let bucket = bucket(of: key) else { return nil }
        return ring[Int(table[bucket])]
    }

    /// Changes the entry for `key` in place, or inserts `make()` when there is none (evicting the
    /// oldest entry at capacity).
    mutating func upsert(_ key: UInt64, make: () -> Entry, update: (inout Entry) -> Void) {
        if let bucket = bucket(of: key) {
            update(&ring[Int(table[bucket])])
            return
        }
        let entry = make()
        let position: Int
        if ring.count < capacity {
            if (ring.count + 1) * 4 > table.count * 3 { grow() }
            position = ring.count
            ring.append(entry)
        } else {
            position = head
            if let oldest = bucket(of: ring[head].key) { removeBucket(oldest) }
            ring[head] = entry
            head = (head + 1) % capacity
        }
        insertIntoTable(key, position: position)
    }

    /// A new index with the entries `keep` returns, in the same order, changed as it returned them.
    func rebuilt(_ keep: (Entry) throws -> Entry?) rethrows -> JournalIndex {
        JournalIndex(ordered: try entries.compactMap(keep), capacity: capacity)
    }

    // MARK: - table

    /// Fibonacci hashing: the top bits of key × 2^64/φ, so keys that differ only in their low
    /// bits (a test's, or a weak hash) still spread over the table.
    private func home(of key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    }

    private func bucket(of key: UInt64) -> Int? {
        let mask = table.count - 1
        var bucket = home(of: key)
        while true {
            let position = table[bucket]
            if position < 0 { return nil }
            if ring[Int(position)].key == key { return bucket }
            bucket = (bucket + 1) & mask
        }
    }

    private mutating func insertIntoTable(_ key: UInt64, position: Int) {
        let mask = table.count - 1
        var bucket = home(of: key)
        while table[bucket] >= 0 { bucket = (bucket + 1) & mask }
        table[bucket] = Int32(position)
    }

    /// Backward-shift deletion: later members of the probe run move up into the hole unless their
    /// home lies between the hole and them, so no lookup ever stops early and no tombstones pile up.
    private mutating func removeBucket(_ removed: Int) {
        let mask = table.count - 1
        var hole = removed
        var bucket = (removed + 1) & mask
        while table[bucket] >= 0 {
            let home = home(of: ring[Int(table[bucket])].key)
            let homeBetweenHoleAndBucket = hole <= bucket ? (hole < home && home <= bucket) : (hole < home || home <= bucket)
            if !homeBetweenHoleAndBucket {
                table[hole] = table[bucket]
                hole = bucket
            }
            bucket = (bucket + 1) & mask
        }
        table[hole] = -1
    }

    private mutating func grow() {
        table = Array(repeating: -1, count: table.count * 2)
        shift -= 1
        for (position, entry) in ring.enumerated() { insertIntoTable(entry.key, position: position) }
    }
}
