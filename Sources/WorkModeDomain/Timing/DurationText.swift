/// Durations as operators write them: `250ms`, `5s`, `2m`, `1h`, or a plain number of seconds.
public enum DurationText {
    /// `250ms`, `5s`, `2m`, `1h`, or a number of seconds; nil for anything else.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            // "ms" is tried before "s" and "m", so "250ms" is never read as minutes or seconds.
            guard let value = Double(trimmed.dropLast(unit.suffix.count)), value >= 0, value.isFinite else { continue }
            return .milliseconds(Int64((value * unit.scale * 1000).rounded()))
        }
        guard let seconds = Double(trimmed), seconds >= 0, seconds.isFinite else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The shortest exact form: `250ms`, `5s`, `2m`.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = Int64(duration.timeInterval * 1000)
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

extension String {
    /// Without leading and trailing whitespace (newlines included). Free of Foundation's
    /// `NSString` bridging, and no copy at all in the common case, because OIFDE error codes are
    /// decoded once per forwarded command.
    public func trimmingWhitespace() -> String {
        guard let head = unicodeScalars.first, let tail = unicodeScalars.last else { return self }
        if !head.properties.isWhitespace, !tail.properties.isWhitespace { return self }
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
