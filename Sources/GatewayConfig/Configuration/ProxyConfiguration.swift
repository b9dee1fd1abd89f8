import Foundation

/// `oifde.proxy`: the HTTP proxy between the gateway and OIFDE (docs/contract.md section 14).
public struct ProxyConfiguration: Sendable {
    /// The proxy's host.
    public var host: String
    /// The proxy's port (80 when the URL names none).
    public var port: Int
    /// The user of basic credentials, when the URL names one.
    public var user: String?
    /// Its password, from `oifde.proxy.passwordFile` (or the URL, for one taken from the environment).
    public var password: GatewayConfiguration.Secret?
    /// Hosts (or suffixes: `.example.com`, `example.com`) reached directly; `*` means every host.
    public var noProxy: [String]
    /// Where it came from: `oifde.proxy.url` or an environment variable's name.
    public var source: String

    /// Whether a request to `host` goes through the proxy. A configured proxy applies to loopback
    /// hosts too: only `noProxy` exempts a host.
    public func applies(to host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        for entry in noProxy.map({ $0.lowercased().trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            if entry == "*" || entry == name { return false }
            let suffix = entry.hasPrefix(".") ? entry : "." + entry
            if name.hasSuffix(suffix) { return false }
        }
        return true
    }

    /// `http://[user[:password]@]host[:port]`; nil and a reason for anything else.
    static func parse(_ text: String) -> (host: String, port: Int, user: String?, password: String?)? {
        guard let url = URLComponents(string: text), url.scheme?.lowercased() == "http", let host = url.host, !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.query == nil
        else { return nil }
        let port = url.port ?? 80
        guard (1...65535).contains(port) else { return nil }
        return (host, port, url.user.flatMap { $0.isEmpty ? nil : $0 }, url.password)
    }
}

extension ConfigurationLoader {
    /// `oifde.proxy.url` (with `passwordFile` and `noProxy`), else `HTTPS_PROXY`/`HTTP_PROXY` (by the
    /// base URL's scheme, either case) with `NO_PROXY`; nil when none is set.
    func proxy(_ values: [String: Raw], baseURL: String) throws(ConfigurationError) -> ProxyConfiguration? {
        let configured = values["oifde.proxy.url"].flatMap { raw in raw.text.flatMap { $0.isEmpty ? nil : (text: $0, source: raw.source) } }
        let names = baseURL.hasPrefix("https://") ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"]
        let inherited = names.lazy.compactMap { name in self.environment[name].flatMap { $0.isEmpty ? nil : (text: $0, source: name) } }.first
        guard let (text, source) = configured ?? inherited else { return nil }
        let key = configured != nil ? "oifde.proxy.url" : source
        guard let parsed = ProxyConfiguration.parse(text) else {
            throw ConfigurationError(
                key: key, problem: "must be http://[user@]host:port (the proxy itself is reached over plain HTTP)", source: source)
        }
        var password = parsed.password
        if let file = values["oifde.proxy.passwordFile"], let path = file.text, !path.isEmpty {
            password = try PasswordFile.read(key: "oifde.proxy.passwordFile", path: path, source: file.source)
        }
        if configured != nil, parsed.password != nil, values["oifde.proxy.passwordFile"] == nil {
            throw ConfigurationError(
                key: "oifde.proxy.url", problem: "carries a password: put it in a file named by oifde.proxy.passwordFile", source: source)
        }
        let noProxyText: String? =
            values["oifde.proxy.noProxy"]?.text ?? (configured == nil ? (environment["NO_PROXY"] ?? environment["no_proxy"]) : nil)
        let noProxy = (noProxyText ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return ProxyConfiguration(
            host: parsed.host, port: parsed.port, user: parsed.user, password: password.map(GatewayConfiguration.Secret.init), noProxy: noProxy,
            source: key)
    }
}
