import Metrics

/// What build is running: for `--version`, the start log line, and the `wmg_build_info` gauge (the
/// Prometheus convention: always 1, the facts in its labels), which operators and bug reports need.
public enum BuildInfo {
    /// The release. Raised with each release; the commit says the rest.
    public static let version = "0.2.0"

    /// The git commit the build comes from (`unknown` outside a checkout; `-modified` with uncommitted changes).
    public static var commit: String { BuildCommit.commit }

    /// `0.2.0 (commit 1a2b3c4d5e6f)`.
    public static var description: String { "\(version) (commit \(commit))" }

    /// Every package the build resolved, `name version url`, sorted by name.
    public static var dependencies: [String] { BuildCommit.dependencies }

    /// `--version --verbose`: the description, the toolchain's Swift version, and the resolved packages.
    public static var verboseDescription: String {
        var lines = ["workmode-gateway \(description)", "swift \(swiftVersion)", "packages:"]
        lines += dependencies.map { "  \($0)" }
        return lines.joined(separator: "\n")
    }

    static var swiftVersion: String {
        #if compiler(>=6.3)
            "6.3+"
        #elseif compiler(>=6.2)
            "6.2"
        #else
            "older than 6.2"
        #endif
    }

    static func record() {
        Gauge(label: "wmg_build_info", dimensions: [("version", version), ("revision", commit)]).record(1)
    }
}
