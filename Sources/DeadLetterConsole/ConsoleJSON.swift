import Foundation
import Operations
import WorkModeDomain

/// The API's answers, as JSONSerialization objects.
enum ConsoleJSON {
    static func summary(_ record: DeadLetterRecord) -> [String: Any] {
        var object: [String: Any] = [
            "id": record.key, "messageId": record.messageId, "class": record.failureClass, "reason": record.reason,
            "redriveCount": record.redriveCount,
        ]
        object["tenantId"] = record.tenantId
        object["callId"] = record.callId
        object["deadLetteredAt"] = record.deadLetteredAt.map(RFC3339.format)
        object["errorCode"] = record.errorCode
        return object
    }

    static func listing(_ browse: DeadLetterTools.Browse, queue: String, retention: Duration) -> [String: Any] {
        var object: [String: Any] = [
            "queue": queue, "scanned": browse.scanned, "matched": browse.matched,
            "counts": browse.groups.map { ["class": $0.failureClass, "reason": $0.reason, "count": $0.count] as [String: Any] },
            "letters": browse.records.map(summary),
            "retentionSeconds": Int(retention.components.seconds),
        ]
        // The oldest open letter is the first that retention takes.
        if let oldest = browse.oldest {
            object["oldestDeadLetteredAt"] = RFC3339.format(oldest)
            object["oldestAgeSeconds"] = max(0, Int(Date().timeIntervalSince(oldest)))
        }
        return object
    }

    static func detail(_ record: DeadLetterRecord) -> [String: Any] {
        var object = summary(record)
        object["body"] = record.body
        object["properties"] = Dictionary(record.properties.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        object["headers"] = (try? JSONSerialization.jsonObject(with: Data(record.headersJSON.utf8))) ?? [:]
        return object
    }

    static func replay(_ replay: DeadLetterTools.Replay, asked: [String]) -> [String: Any] {
        let settled = Set(replay.replayedKeys + replay.refusedKeys + replay.failedKeys)
        return [
            "replayed": replay.replayed, "refused": replay.refused, "failed": replay.failed, "replayedIds": replay.replayedKeys,
            "refusedIds": replay.refusedKeys, "failedIds": replay.failedKeys, "notFound": asked.filter { !settled.contains($0) },
        ]
    }
}
