import Foundation
import Testing

/// The console in a real browser (headless Chromium driven by Selenium, both installed by the
/// test command): Tests/Scripts/console_browser.py logs in, filters, opens a message, replays
/// three through the confirmation step and checks a `<script>` body runs nothing. Screenshots go
/// to test-artifacts/console/ (ignored by git).
@Suite(.timeLimit(.minutes(10))) struct ConsoleBrowserTests {
    @Test func anOperatorTriagesAndReplaysInTheBrowser() async throws {
        try await withGateway(environment: ["WMG_ADMIN_TOKEN": ConsoleTests.token]) { gut in
            try await ConsoleTests.makeDeadLetters(gut, rejected: 6)
            _ = try await gut.simulator.control("DELETE", "/simulator/faults")
            let shots = Harness.packageRoot + "/test-artifacts/console"
            let (status, output) = try await Subprocess.run(
                "/usr/bin/env",
                [
                    "python3", Harness.packageRoot + "/Tests/Scripts/console_browser.py", "--url", "http://127.0.0.1:\(gut.adminPort)",
                    "--token", ConsoleTests.token, "--shots", shots,
                ],
                mergeErrors: true)
            #expect(status == 0, "\(output)")
            #expect(output.contains("console browser checks passed"), "\(output)")
            // What the page replayed came back and succeeded.
            let results = try await gut.nextResults(3, within: 60)
            #expect(Set(results.compactMap { $0["commandId"] as? String }) == ["rej-0", "rej-1", "rej-2"])
            #expect(results.allSatisfy { $0["status"] as? String == "succeeded" })
            #expect(FileManager.default.fileExists(atPath: shots + "/5-replayed.png"), "each step saves a screenshot")
        }
    }
}
