import Foundation

/// Runs a short command to its end and returns its status and standard output.
///
/// Written with posix_spawn and a blocking waitpid on a thread of its own because Foundation's
/// `Process.waitUntilExit()` was seen to wait forever here for a child that had already exited
/// (a zombie nobody reaped) while other tests ran, which hung a whole suite.
enum Subprocess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameter mergeErrors: standard error goes to the output too (operator tools print their
    ///   failure line there); otherwise it is discarded.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], mergeErrors: Bool = false,
        standardInput: String = "/dev/null"
    ) async throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "wmg-subprocess-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A file, not a pipe: a command that leaves a daemon behind (broker.sh start) would keep a
        // pipe's write end open, and reading it to its end would wait for the daemon.
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if mergeErrors {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // The caller's WMG_ settings would leak into the product's configuration; tests pass theirs.
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WMG_") || $0.key.hasPrefix("WMG_TEST_") }
        let merged = inherited.merging(environment) { $1 }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw Failure(description: "cannot start \(executable): errno \(spawned)") }
        let child = pid
        let status: Int32 = await withCheckedContinuation { continuation in
            let waiter = Thread {
                var raw: Int32 = 0
                while waitpid(child, &raw, 0) == -1, errno == EINTR {}
                // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
                continuation.resume(returning: (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
            }
            waiter.start()
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (status, output)
    }
}
