import Foundation
import WorkModeDomain

/// Reads OIFDE's small JSON answers. `errorCode` is an integer in gettoken and a string in
/// changeWorkMode; both are accepted everywhere and normalised to text.
enum ResponseDecoding {
    struct Answer {
        var errorCode: String?
        var errorMsg: String?
        var authToken: String?
        var expireTime: Int?
    }

    static func decode(_ bytes: [UInt8]) -> Answer? {
        guard let object = FlatJSONObject(parsing: bytes) else { return nil }
        var answer = Answer()
        answer.errorCode = object.text("errorCode")?.trimmingWhitespace()
        answer.errorMsg = object.string("errorMsg")
        answer.authToken = object.string("authToken")
        answer.expireTime = object.integer("expireTime")
        return answer
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
}
