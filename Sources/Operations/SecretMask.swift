import Foundation

/// Masks what must never be shown: values of JSON members and of headers whose names say token,
/// secret, password or authorization (an `authToken` in a passthrough command, an `appSecret`).
/// Works on text that is not valid JSON too: a dead letter is often exactly that.
public enum SecretMask {
    /// What a masked value becomes.
    public static let masked = "<masked>"

    /// True for a member or header name that holds a credential.
    public static func isSecretName(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["token", "secret", "password", "authorization", "credential"].contains { lowered.contains($0) }
    }

    private static let stringMember: NSRegularExpression? = try? NSRegularExpression(
        pattern: #""((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*)"#)

    /// `text` with the string or number value of every secret-named member replaced.
    public static func maskJSON(_ text: String) -> String {
        guard let stringMember else { return text }
        let source = text as NSString
        var result = ""
        var last = 0
        for match in stringMember.matches(in: text, range: NSRange(location: 0, length: source.length)) {
            guard isSecretName(source.substring(with: match.range(at: 1))) else { continue }
            let value = match.range(at: 3)
            result += source.substring(with: NSRange(location: last, length: value.location - last))
            result += "\"\(masked)\""
            last = value.location + value.length
        }
        result += source.substring(from: last)
        return result
    }
}
