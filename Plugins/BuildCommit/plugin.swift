import Foundation
import PackagePlugin

/// Writes what the build is made of into the target as `BuildCommit`, before every build:
/// - `commit`: the git commit, so `--version`, the start log line and `wmg_build_info` name the exact
///   code. Outside a git checkout (a container build, a source archive) it is read from a file
///   `.build-revision` at the package root (the Containerfile writes its `REVISION` argument there),
///   else `unknown`.
/// - `dependencies`: every package the build resolved, with its version (or revision), so an operator
///   can say what a running binary contains (`--version --verbose`). `Package.resolved` stays out of the
///   repository, so this is the only record of it.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let file = output.appending(path: "BuildCommit.swift").path
        let root = context.package.directoryURL.path
        let dependencies = Self.resolved(context.package).map { "\\\"\($0)\\\"" }.joined(separator: ", ")
        let script = """
            mkdir -p '\(output.path)'
            commit=$(git -C '\(root)' rev-parse --short=12 HEAD 2>/dev/null || head -c 40 '\(root)/.build-revision' 2>/dev/null || echo unknown)
            commit=$(printf '%s' "$commit" | tr -cd 'A-Za-z0-9._-')
            [ -n "$commit" ] || commit=unknown
            if [ -n "$(git -C '\(root)' status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-modified"; fi
            new="/// Generated before each build by the BuildCommit plugin.
            public enum BuildCommit {
                public static let commit = \\"$commit\\"
                public static let dependencies: [String] = [\(dependencies)]
            }"
            [ "$(cat '\(file)' 2>/dev/null)" = "$new" ] || printf '%s\\n' "$new" > '\(file)'
            """
        return [
            .prebuildCommand(
                displayName: "Recording the git commit and the resolved packages", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script],
                outputFilesDirectory: output
            )
        ]
    }

    /// `name version` for every package in the graph, each once, sorted by name.
    static func resolved(_ package: Package) -> [String] {
        var seen: [String: String] = [:]
        var queue = package.dependencies.map(\.package)
        while let next = queue.popLast() {
            guard seen[next.displayName] == nil else { continue }
            seen[next.displayName] = describe(next.origin)
            queue.append(contentsOf: next.dependencies.map(\.package))
        }
        return seen.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            .map { $0.filter { $0.isLetter || $0.isNumber || " .-_+/:@".contains($0) } }
    }

    static func describe(_ origin: PackageOrigin) -> String {
        switch origin {
        case .repository(let url, let displayVersion, let scmRevision):
            // A version names the release; a branch or revision pin has only its commit (when SwiftPM gives one).
            let version = displayVersion.isEmpty ? String(scmRevision.prefix(12)) : displayVersion
            return "\(version) \(url)"
        case .registry(let identity, let displayVersion):
            return "\(displayVersion) registry \(identity)"
        case .local(let path):
            return "local \(path)"
        case .root:
            return "root"
        @unknown default:
            return "unknown"
        }
    }
}
