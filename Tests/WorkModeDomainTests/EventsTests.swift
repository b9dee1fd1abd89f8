import Foundation
import Testing

@testable import WorkModeDomain

@Suite(.timeLimit(.minutes(10))) struct EventsTests {
    let received = Date(timeIntervalSince1970: 1_764_064_800.123)

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func succeededEventHasTheContractFields() throws {
        let event = ResultEvent(
            commandId: "m-1", correlationId: "corr", status: .succeeded, tenantId: "t", callId: "c", agentId: "a", workMode: "3",
            errorCode: "0", errorMsg: "", httpStatus: 200, attempts: 1, receivedAt: received,
            completedAt: received.addingTimeInterval(0.0221)
        )
        let object = try json(event.jsonBytes())
        #expect(object["commandId"] as? String == "m-1")
        #expect(object["correlationId"] as? String == "corr")
        #expect(object["status"] as? String == "succeeded")
        #expect(object["workMode"] as? String == "3")
        #expect(object["errorCode"] as? String == "0")
        #expect(object["errorMsg"] as? String == "")
        #expect(object["httpStatus"] as? Int == 200)
        #expect(object["attempts"] as? Int == 1)
        #expect((object["errors"] as? [Any])?.isEmpty == true)
        #expect(object["receivedAt"] as? String == "2025-11-25T10:00:00.123Z")
        #expect(object["completedAt"] as? String == "2025-11-25T10:00:00.145Z")
        #expect(object["durationMs"] as? Double == 22.1)
        #expect(object["inDoubt"] == nil)
    }

    @Test func invalidEventOmitsWhatDoesNotApply() throws {
        let errors = [ValidationError(pointer: "/workMode", code: .notAllowed, message: "workMode must be …; got \"9\"")]
        let event = ResultEvent(
            commandId: "m-2", status: .invalid, tenantId: "t", attempts: 0, errors: errors, receivedAt: received, completedAt: received,
            inDoubt: false
        )
        let object = try json(event.jsonBytes())
        #expect(object["httpStatus"] == nil)
        #expect(object["correlationId"] == nil)
        #expect(object["errorCode"] == nil)
        let listed = try #require(object["errors"] as? [[String: String]])
        #expect(listed == [["pointer": "/workMode", "code": "not_allowed", "message": "workMode must be …; got \"9\""]])
    }

    @Test func aFailedEventCarriesItsReasonAndASuccessDoesNot() throws {
        var failed = ResultEvent(commandId: "m", status: .failed, attempts: 5, receivedAt: received, completedAt: received)
        failed.reason = "still failing after 5 attempts; last: gettoken answered errorCode 0\nwithout an authToken"
        #expect(
            try json(failed.jsonBytes())["reason"] as? String
                == "still failing after 5 attempts; last: gettoken answered errorCode 0 without an authToken")
        var succeeded = ResultEvent(commandId: "m", status: .succeeded, attempts: 1, receivedAt: received, completedAt: received)
        succeeded.reason = "applied"
        #expect(try json(succeeded.jsonBytes())["reason"] == nil)
    }

    @Test func inDoubtIsFlagged() throws {
        let event = ResultEvent(commandId: "m", status: .succeeded, attempts: 2, receivedAt: received, completedAt: received, inDoubt: true)
        #expect(try json(event.jsonBytes())["inDoubt"] as? Bool == true)
    }

    @Test func statusMapsToDeadLetterClass() {
        #expect(CommandStatus.succeeded.deadLetterClass == nil)
        #expect(CommandStatus.invalid.deadLetterClass == .invalid)
        #expect(CommandStatus.rejected.deadLetterClass == .rejected)
        #expect(CommandStatus.failed.deadLetterClass == .exhausted)
        #expect(CommandStatus.expired.deadLetterClass == .expired)
    }

    @Test func deadLetterHeadersFollowTheContract() {
        let annotation = DeadLetterAnnotation(
            failureClass: .rejected, reason: "OIFDE refused\nthe change", errorCode: "10000002", httpStatus: 200, attempts: 1,
            deadLetteredAt: received, originalExchange: "workmode.commands", originalRoutingKey: "change"
        )
        let headers = Dictionary(uniqueKeysWithValues: annotation.headers().map { ($0.key, $0.value) })
        #expect(headers["x-failure-class"] == .string("rejected"))
        #expect(headers["x-failure-reason"] == .string("OIFDE refused the change"))
        #expect(headers["x-failure-error-code"] == .string("10000002"))
        #expect(headers["x-failure-http-status"] == .int(200))
        #expect(headers["x-attempts"] == .int(1))
        #expect(headers["x-dead-lettered-at"] == .string("2025-11-25T10:00:00.123Z"))
        #expect(headers["x-original-exchange"] == .string("workmode.commands"))
        #expect(headers["x-original-routing-key"] == .string("change"))
        #expect(headers["x-validation-errors"] == nil)
    }

    @Test func reasonIsCutTo512BytesOnACharacterBoundary() {
        let annotation = DeadLetterAnnotation(
            failureClass: .invalid, reason: String(repeating: "漢", count: 400), attempts: 0, deadLetteredAt: received,
            originalExchange: "", originalRoutingKey: ""
        )
        guard case .string(let reason)? = annotation.headers().first(where: { $0.key == "x-failure-reason" })?.value else {
            Issue.record("reason missing")
            return
        }
        #expect(reason.utf8.count <= 512)
        #expect(reason.hasSuffix("…"))
        #expect(reason.dropLast().allSatisfy { $0 == "漢" })
    }

    @Test func validationErrorsStayValidJSONWithin4KiB() throws {
        let many = (0..<200).map { ValidationError(pointer: "/f\($0)", code: .unknownField, message: "unknown field \"f\($0)\" 漢字") }
        let text = DeadLetterAnnotation.validationErrorsJSON(many)
        #expect(text.utf8.count <= 4096)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: String]])
        #expect(parsed.last?["code"] == "truncated")
        #expect(parsed.count < 200)
        let few = DeadLetterAnnotation.validationErrorsJSON(Array(many.prefix(2)))
        #expect(try JSONSerialization.jsonObject(with: Data(few.utf8)) as? [[String: String]] != nil)
        #expect(!few.contains("truncated"))
    }

    @Test func oifdeBodyHasEveryValueAsAString() throws {
        let command = WorkModeCommand(
            tenantId: "t", callId: "c", agentId: "a", workMode: .transfer,
            callTransferRequest: CallTransferRequest(type: .lastAgent, routeValue: nil, transData: "k=v", callingNumber: "+1")
        )
        let object = try json(OIFDERequestBody.encode(command, authToken: "tok"))
        #expect(object["workMode"] as? String == "3")
        #expect(object["authToken"] as? String == "tok")
        let transfer = try #require(object["callTransferRequest"] as? [String: String])
        #expect(transfer == ["callTransferType": "7", "callTransferRouteValue": "", "callTransferTransData": "k=v", "callTransferNumber": "+1"])
    }
}
