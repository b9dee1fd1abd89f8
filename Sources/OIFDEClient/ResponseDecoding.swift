import Foundation
import WorkModeDomain

/// Reads OIFDE's small JSON answers. `errorCode` is an integer in gettoken and a string in
/// changeWorkMode; both are accepted everywhere and normalised to text.
enum ResponseDecoding {
    struct Answer {
        var errorCode: String?
        var errorMsg: String?
        var object: FlatJSONObject
    }

    /// The answer, or what is wrong with the body ("an empty body", "a body that is not a JSON object").
    static func decode(_ bytes: [UInt8]) -> Result<Answer, BodyProblem> {
        if bytes.isEmpty { return .failure(BodyProblem("an empty body")) }
        guard let object = FlatJSONObject(parsing: bytes) else {
            return .failure(BodyProblem("a body that is not a JSON object (\(bytes.count) bytes)"))
        }
        return .success(Answer(errorCode: object.text("errorCode")?.trimmingWhitespace(), errorMsg: object.string("errorMsg"), object: object))
    }

    struct BodyProblem: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// The token in a gettoken answer that says errorCode 0, or what is wrong with it.
    static func token(in answer: Answer) -> Result<String, BodyProblem> {
        switch answer.object["authToken"] {
        case nil: return .failure(BodyProblem("without an authToken"))
        case .null?: return .failure(BodyProblem("with a null authToken"))
        case .string(let token)?:
            guard !token.trimmingWhitespace().isEmpty else { return .failure(BodyProblem("with an empty authToken")) }
            return .success(token)
        case .number?, .bool?, .nested?: return .failure(BodyProblem("with an authToken that is not a string"))
        }
    }

    /// `Retry-After` as delay-seconds or an HTTP date.
    static func retryAfter(_ header: String?, now: Date = Date()) -> Duration? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        if let seconds = Int(header), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: header) else { return nil }
        return .seconds(max(0, date.timeIntervalSince(now)))
    }

    /// A redirect's target for a reason line: scheme, host, port and path only (a query could carry
    /// anything).
    static func location(_ header: String?) -> String? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        let cut = header.split(separator: "?", maxSplits: 1).first.map(String.init) ?? header
        return DeadLetterAnnotation.oneLine(cut, maxBytes: 200)
    }
}
