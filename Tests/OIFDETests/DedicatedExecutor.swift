import Foundation
import Synchronization

/// Threads of the test process's own for the in-process simulators and the clients they serve.
///
/// Swift Testing runs suites in parallel on the cooperative pool, which has one thread per core
/// (two here). At the whole suite's start the CPU-bound property and fuzz suites held both for
/// about 10 s, and a simulator task waiting behind them answered nothing: connection and timeout
/// tests ran out of their limits. Tasks that prefer these threads are scheduled by the kernel
/// beside the busy ones instead of queueing behind them.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = DedicatedExecutor(threads: 4)

    private let queue = Mutex<[UnownedJob]>([])
    private let available = DispatchSemaphore(value: 0)

    private init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in
                while true {
                    available.wait()
                    guard let job = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                    job.runSynchronously(on: asUnownedTaskExecutor())
                }
            }
            thread.name = "test-executor-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        queue.withLock { $0.append(unowned) }
        available.signal()
    }
}
