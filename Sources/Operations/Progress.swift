import Foundation
import WorkModeDomain

#if canImport(Glibc)
    import Glibc
#endif

/// Progress on standard error: a redrawn bar with rate and ETA on a terminal, a plain line every
/// few seconds otherwise (logs of batch jobs).
final class Progress {
    private let total: Int
    private let label: String
    private let interactive: Bool
    private let started = ContinuousClock.now
    private var lastDrawn: ContinuousClock.Instant
    private let interval: Duration

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        interactive = isatty(STDERR_FILENO) == 1
        interval = interactive ? .milliseconds(200) : .seconds(5)
        lastDrawn = started
    }

    func update(_ done: Int) {
        let now = ContinuousClock.now
        guard now - lastDrawn >= interval else { return }
        lastDrawn = now
        draw(done, final: false)
    }

    func finish(_ done: Int) { draw(done, final: true) }

    private func draw(_ done: Int, final: Bool) {
        let elapsed = max((ContinuousClock.now - started).timeInterval, 0.001)
        let rate = Double(done) / elapsed
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let text: String
        if interactive {
            let width = 30
            let filled = total > 0 ? min(width, width * done / total) : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            text = "\r[\(bar)] \(done)/\(total) \(label)  \(Int(rate))/s  ETA \(Int(remaining.rounded()))s" + (final ? "\n" : "")
        } else {
            guard !final else { return }
            text = "\(done)/\(total) \(label), \(Int(rate))/s, ETA \(Int(remaining.rounded()))s\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }
}
