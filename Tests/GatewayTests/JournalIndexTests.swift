import PropertyBased
import Testing

@testable import Gateway

/// The journal's hashed index on its own, against the simplest model of what it must do: a list
/// in first-insertion order, the oldest dropped when a new key arrives at capacity.
@Suite(.timeLimit(.minutes(10))) struct JournalIndexTests {
    static func entry(_ key: UInt64, _ n: Int, completed: Bool = false) -> JournalIndex.Entry {
        .init(key: key, location: .init(offset: Int64(n), length: 10), completed: completed, at: Double(n))
    }

    @Test func aNewKeyAtCapacityEvictsTheOldestAndUpdatesKeepTheirPlace() {
        var index = JournalIndex(capacity: 3)
        for key: UInt64 in [1, 2, 3] { index.upsert(key, make: { Self.entry(key, Int(key)) }, update: { _ in }) }
        // Updating 1 does not make it younger: eviction is by first insertion, as before.
        index.upsert(1, make: { Self.entry(1, 0) }, update: { $0.completed = true })
        index.upsert(4, make: { Self.entry(4, 4) }, update: { _ in })
        #expect(index[1] == nil)
        #expect(index.entries.map(\.key) == [2, 3, 4])
        #expect(index.count == 3)
    }

    @Test func rebuildingKeepsTheOrderAndDropsWhatIsNotKept() {
        var index = JournalIndex(capacity: 4)
        for key: UInt64 in 1...6 { index.upsert(key, make: { Self.entry(key, Int(key)) }, update: { _ in }) }
        let rebuilt = index.rebuilt { $0.key % 2 == 0 ? nil : $0 }
        #expect(rebuilt.entries.map(\.key) == [3, 5])
        #expect(rebuilt[4] == nil)
        #expect(rebuilt[5] == Self.entry(5, 5))
    }

    /// Random inserts, updates and rebuilds over a small key space (so probe runs collide, wrap
    /// around the table and are cut by backward-shift deletions) with capacities from 1 to 300:
    /// after every step each key is found exactly when the model holds it, with the model's value,
    /// and the order is the model's.
    @Test func randomOperationsMatchTheModel() async {
        await propertyCheck(count: 100, input: Gen.uint64()) { seed in
            var random = Xoshiro(seed: (seed, seed ^ 0x5555, seed &+ 1, 0x1234_5678))
            let capacity = 1 + Int(random.next() % 300)
            let keySpace = UInt64(1 + Int(random.next() % 3) * capacity)
            var index = JournalIndex(capacity: capacity)
            var model: [JournalIndex.Entry] = []
            for step in 0..<1500 {
                // Keys that differ in their high bits too, and plain small ones.
                let raw = random.next() % keySpace
                let key = step % 2 == 0 ? raw : raw << 40 | raw
                if random.next() % 200 == 0 {
                    let drop = random.next() % 3
                    index = index.rebuilt { $0.key % 3 == drop ? nil : $0 }
                    model.removeAll { $0.key % 3 == drop }
                } else if let found = model.firstIndex(where: { $0.key == key }) {
                    index.upsert(key, make: { Self.entry(key, -1) }, update: { $0.at = Double(step) })
                    model[found].at = Double(step)
                } else {
                    index.upsert(key, make: { Self.entry(key, step) }, update: { _ in })
                    if model.count == capacity { model.removeFirst() }
                    model.append(Self.entry(key, step))
                }
                // Checked every 25 steps, not every step: the whole check at every step made this
                // test a 30 s CPU hog that held up timing-sensitive tests running beside it.
                guard step % 25 == 24 else { continue }
                guard index.entries == model else {
                    Issue.record("order differs at step \(step), capacity \(capacity)")
                    return
                }
                guard step % 250 == 249 else { continue }
                for key in 0..<keySpace {
                    for probe in [key, key << 40 | key] where index[probe] != model.first(where: { $0.key == probe }) {
                        Issue.record("key \(probe) at step \(step), capacity \(capacity): \(String(describing: index[probe]))")
                        return
                    }
                }
            }
        }
    }
}
