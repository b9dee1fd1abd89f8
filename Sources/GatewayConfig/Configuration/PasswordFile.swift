import Foundation

/// Secrets kept out of URLs: `amqp.passwordFile` (and `oifde.proxy.passwordFile`) name a file, for
/// example one systemd's `LoadCredential=` or a Kubernetes Secret provides, whose contents become the
/// URL's password. The configuration file itself then holds no secret and may be readable by the group.
enum PasswordFile {
    /// The file's contents without the trailing line break an editor adds.
    static func read(key: String, path: String, source: String?) throws(ConfigurationError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "is not readable by this user" : "does not exist"
            throw ConfigurationError(key: key, problem: "\(path) \(reason)", source: source)
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(key: key, problem: "\(path) is not UTF-8 text", source: source)
        }
        while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
        guard !text.isEmpty else { throw ConfigurationError(key: key, problem: "\(path) is empty", source: source) }
        return text
    }

    /// `scheme://user@hosts/path` with `password` put into the user information, percent-encoded. The
    /// file overrides a password the URL carries (contract section 14); a URL without a user is refused.
    static func inserting(
        _ password: String, into url: String, urlKey: String, fileKey: String, source: String?
    ) throws(ConfigurationError) -> String {
        guard let schemeEnd = url.range(of: "://") else {
            throw ConfigurationError(key: urlKey, problem: "must be a URL for \(fileKey) to apply", source: source)
        }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else {
            throw ConfigurationError(key: urlKey, problem: "must name a user (user@host) for \(fileKey) to apply", source: source)
        }
        let userInfo = rest[rest.startIndex..<at]
        let user = userInfo.firstIndex(of: ":").map { userInfo[..<$0] } ?? userInfo
        guard !user.isEmpty else {
            throw ConfigurationError(key: urlKey, problem: "must name a user (user@host) for \(fileKey) to apply", source: source)
        }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
        return String(url[..<schemeEnd.upperBound]) + user + ":" + encoded + rest[at...]
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}
