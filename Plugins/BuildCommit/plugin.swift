import Foundation
import PackagePlugin

/// Writes the git commit the build comes from into the target as `BuildCommit.commit`, before
/// every build, so `--version`, the start log line and `wmg_build_info` name the exact code. A
/// build outside a git checkout (a source archive) says `unknown`.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let file = output.appending(path: "BuildCommit.swift").path
        let root = context.package.directoryURL.path
        let script = """
            mkdir -p '\(output.path)'
            commit=$(git -C '\(root)' rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ -n "$(git -C '\(root)' status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-modified"; fi
            new="/// Generated before each build by the BuildCommit plugin.
            public enum BuildCommit { public static let commit = \\"$commit\\" }"
            [ "$(cat '\(file)' 2>/dev/null)" = "$new" ] || printf '%s\\n' "$new" > '\(file)'
            """
        return [
            .prebuildCommand(
                displayName: "Recording the git commit", executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", script],
                outputFilesDirectory: output
            )
        ]
    }
}
