extension String {
    /// The text with every control character written as an escape (`\n`, `\t`, `\u{7F}`): an error
    /// that quotes outside input (a configuration value, a query parameter) stays one line in a log
    /// or on a terminal, and cannot forge a second one.
    public var oneLine: String {
        guard unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return self }
        var result = ""
        result.reserveCapacity(count + 8)
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.properties.generalCategory == .control:
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
