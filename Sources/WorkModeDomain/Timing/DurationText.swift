/// Durations as operators write them: `250ms`, `5s`, `2m`, `1h`, or a plain number of seconds.
public enum DurationText {
    /// The longest duration accepted: 100 years. Anything longer is a typo, and far longer
    /// would not fit the milliseconds the duration is kept in.
    public static let maximumSeconds: Double = 100 * 366 * 86_400

    /// `250ms`, `5s`, `2m`, `1h`, `7d`, or a number of seconds, at most ``maximumSeconds``; nil
    /// for anything else.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            // "ms" is tried before "s" and "m", so "250ms" is never read as minutes or seconds.
            guard let value = Double(trimmed.dropLast(unit.suffix.count)) else { continue }
            return milliseconds(seconds: value * unit.scale)
        }
        return Double(trimmed).flatMap { milliseconds(seconds: $0) }
    }

    private static func milliseconds(seconds: Double) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= maximumSeconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The shortest exact form: `250ms`, `5s`, `2m`, `3d`.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = Int64(duration.timeInterval * 1000)
        if milliseconds % 86_400_000 == 0, milliseconds > 0 { return "\(milliseconds / 86_400_000)d" }
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
