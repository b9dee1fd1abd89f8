import Foundation

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
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return nil }
        var answer = Answer()
        answer.errorCode = text(object["errorCode"])
        answer.errorMsg = object["errorMsg"] as? String
        answer.authToken = object["authToken"] as? String
        if let expire = object["expireTime"] {
            answer.expireTime = (expire as? NSNumber)?.intValue ?? (expire as? String).flatMap { Int($0) }
        }
        return answer
    }

    private static func text(_ value: Any?) -> String? {
        switch value {
        case let string as String: return string.trimmingCharacters(in: .whitespaces)
        case let number as NSNumber: return number.stringValue
        default: return nil
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
}
