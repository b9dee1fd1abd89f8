import Foundation
import Hummingbird
import HummingbirdCore
import Operations
import WorkModeDomain

/// A request the console cannot act on; the message goes back in the JSON `error` member.
struct ConsoleRequestError: Error, CustomStringConvertible {
    let message: String
    var description: String { message.oneLine }
}

/// The list filters of the page and the API: `class`, `tenant`, `since`, `q`, `limit`, with the
/// CLI's own parsing (a bad class or time is refused, never read as "match nothing").
enum ConsoleFilter {
    static func parse(_ query: FlatDictionary<Substring, Substring>) throws(ConsoleRequestError) -> DeadLetterFilter {
        func value(_ name: Substring) -> String? {
            guard let text = query[name].map(String.init)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        do {
            return DeadLetterFilter(
                failureClass: try value("class").map { text throws(OperatorError) in try DeadLetterFilter.parseClass(text) },
                tenantId: value("tenant"),
                since: try value("since").map { text throws(OperatorError) in try DeadLetterFilter.parseSince(text) },
                text: value("q")
            )
        } catch {
            throw ConsoleRequestError(message: error.description.replacingOccurrences(of: "--", with: ""))
        }
    }

    static func limit(_ query: FlatDictionary<Substring, Substring>, maximum: Int) throws(ConsoleRequestError) -> Int {
        guard let text = query["limit"] else { return 500 }
        guard let limit = Int(text), limit >= 0 else { throw ConsoleRequestError(message: "limit \(text): must be 0 or more") }
        return min(limit, maximum)
    }
}

/// The body of a replay or purge: `{"ids": ["…"], "maxRedrives": 3}`. A selection must name what
/// it acts on: an empty one is refused rather than read as "everything".
struct ConsoleSelection: Decodable {
    let ids: [String]
    let maxRedrives: Int?

    static func parse(_ text: String) throws(ConsoleRequestError) -> ConsoleSelection {
        let selection: ConsoleSelection
        do {
            selection = try JSONDecoder().decode(ConsoleSelection.self, from: Data(text.utf8))
        } catch {
            throw ConsoleRequestError(message: #"the body must be {"ids": ["message id", …]} with an optional "maxRedrives""#)
        }
        guard !selection.ids.isEmpty else { throw ConsoleRequestError(message: "ids is empty: select the dead letters to act on") }
        if let cap = selection.maxRedrives, cap < 0 { throw ConsoleRequestError(message: "maxRedrives \(cap): must be 0 or more") }
        return selection
    }
}

/// `application/x-www-form-urlencoded`, as the login form sends it.
enum FormBody {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
            }
            guard let name = parts.first else { continue }
            fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
