import Foundation
import Testing

/// Every link in the Markdown files and every file reference in code comments, scripts and
/// manifests resolves: a moved or renamed file breaks this test, not a reader's trust.
@Suite(.timeLimit(.minutes(10))) struct DocumentationTests {
    static let root = Harness.packageRoot

    /// Files under `folders` (and the top level's own files), without build output.
    static func files(in folders: [String], extensions: Set<String>) -> [String] {
        var found: [String] = []
        for folder in folders {
            guard let walker = FileManager.default.enumerator(atPath: root + "/" + folder) else { continue }
            for case let path as String in walker where !path.hasPrefix(".build") && extensions.contains((path as NSString).pathExtension) {
                found.append(folder + "/" + path)
            }
        }
        let topLevel = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        found += topLevel.filter { extensions.contains(($0 as NSString).pathExtension) }
        return found.sorted()
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    @Test func everyMarkdownLinkResolves() throws {
        let links = try Regex(#"\]\(([^)\s]+)\)"#)
        var broken: [String] = []
        var checked = 0
        for file in Self.files(in: ["docs", "deploy", "Sources", "Tests"], extensions: ["md"]) {
            let text = try String(contentsOfFile: Self.root + "/" + file, encoding: .utf8)
            let directory = (file as NSString).deletingLastPathComponent
            for match in text.matches(of: links) {
                let target = String(match.output[1].substring ?? "")
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") || target.hasPrefix("#") {
                    continue
                }
                let path = String(target.prefix { $0 != "#" })
                checked += 1
                let resolved = ((directory.isEmpty ? Self.root : Self.root + "/" + directory) as NSString).appendingPathComponent(path)
                if !Self.exists(resolved) { broken.append("\(file): \(target)") }
            }
        }
        #expect(checked > 40, "the scan found the links (\(checked))")
        #expect(broken.isEmpty, "broken links:\n\(broken.joined(separator: "\n"))")
    }

    /// `docs/…`, `deploy/…`, `Sources/…`, `Tests/…` and `Plugins/…` paths named in comments,
    /// scripts, manifests and docs are files or folders of this repository.
    @Test func everyFileReferenceResolves() throws {
        let reference = try Regex(#"(?:^|[^\w/.-])((?:docs|deploy|Sources|Tests|Plugins)/[A-Za-z0-9_./-]*[A-Za-z0-9_])"#)
        var broken: Set<String> = []
        var checked = 0
        let kinds: Set<String> = ["swift", "md", "sh", "yaml", "yml", "py", "service", "c", "h", "json"]
        for file in Self.files(in: ["docs", "deploy", "Sources", "Tests", "Plugins", ".ci"], extensions: kinds) {
            let text = try String(contentsOfFile: Self.root + "/" + file, encoding: .utf8)
            for match in text.matches(of: reference) {
                let path = String(match.output[1].substring ?? "")
                // A glob (`bench-*.sh`) names files by pattern, not one file.
                let next = text[match.range.upperBound...].prefix(2)
                if next.hasPrefix("*") || next.hasPrefix("-*") { continue }
                checked += 1
                if !Self.exists(Self.root + "/" + path) { broken.insert("\(file): \(path)") }
            }
        }
        #expect(checked > 100, "the scan found the references (\(checked))")
        #expect(broken.isEmpty, "references to files that do not exist:\n\(broken.sorted().joined(separator: "\n"))")
    }

    /// Every alert has a runbook section in docs/operations.md, and its `runbook_url` points at it.
    @Test func everyAlertHasItsRunbookSection() throws {
        let alerts = try String(contentsOfFile: Self.root + "/deploy/observability/alerts.yaml", encoding: .utf8)
        let runbook = try String(contentsOfFile: Self.root + "/docs/operations.md", encoding: .utf8)
        let names = alerts.matches(of: try Regex(#"- alert: (\w+)"#)).map { String($0.output[1].substring ?? "") }
        #expect(names.count >= 12)
        for name in names {
            #expect(runbook.contains("\n## \(name)\n"), "docs/operations.md has no section for \(name)")
            #expect(alerts.contains("runbook_url: \"docs/operations.md#\(name.lowercased())\""), "\(name) has no runbook_url")
        }
    }
}
