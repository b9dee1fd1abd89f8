/// The field rules of docs/contract.md section 3, applied to a parsed object. Collects every problem.
struct CommandValidation {
    let authMode: CommandDecoder.AuthMode
    private(set) var errors: [ValidationError] = []

    init(authMode: CommandDecoder.AuthMode) { self.authMode = authMode }

    private mutating func report(_ pointer: String, _ code: ValidationError.Code, _ message: String) {
        errors.append(ValidationError(pointer: pointer, code: code, message: message))
    }

    mutating func validate(_ members: [JSONValue.Member]) -> Result<WorkModeCommand, ValidationFailure> {
        let fields = Fields(members)
        for member in members where !CommandDecoder.topLevelFields.contains(member.key) {
            report(JSONPointer.appending("", member.key), .unknownField, "unknown field \(TextRules.quotedExcerpt(member.key))")
        }
        let tenantId = identifier(fields["tenantId"], name: "tenantId")
        let callId = identifier(fields["callId"], name: "callId")
        let agentId = identifier(fields["agentId"], name: "agentId")
        let workMode = self.workMode(fields["workMode"])
        let transfer = transferRequest(fields["callTransferRequest"], workMode: workMode)
        let token = authToken(fields["authToken"])

        guard errors.isEmpty, let tenantId, let callId, let agentId, let workMode else {
            return .failure(
                ValidationFailure(
                    errors: errors, tenantId: readableString(fields["tenantId"]), callId: readableString(fields["callId"]),
                    agentId: readableString(fields["agentId"]), workMode: readableScalar(fields["workMode"])
                ))
        }
        return .success(
            WorkModeCommand(
                tenantId: tenantId, callId: callId, agentId: agentId, workMode: workMode, callTransferRequest: transfer, authToken: token
            ))
    }

    // MARK: - fields

    private mutating func identifier(_ value: JSONValue?, name: String) -> String? {
        let pointer = "/" + name
        guard let value, value != .null else {
            report(pointer, .required, "\(name) is required")
            return nil
        }
        guard case .string(let text) = value else {
            report(pointer, .wrongType, "\(name) must be a string; got \(value.typeName)")
            return nil
        }
        return checkedText(text, pointer: pointer, name: name, maxLength: CommandDecoder.maxIdentifierLength, allowEmpty: false)
    }

    /// Length and character rules for a string that is present; nil when it breaks one.
    private mutating func checkedText(_ text: String, pointer: String, name: String, maxLength: Int, allowEmpty: Bool) -> String? {
        if text.isEmpty {
            if allowEmpty { return text }
            report(pointer, .empty, "\(name) must not be empty")
            return nil
        }
        var ok = true
        let (length, hasControl) = TextRules.lengthAndControl(text)
        if length > maxLength {
            report(pointer, .tooLong, "\(name) has \(length) characters; at most \(maxLength) are allowed")
            ok = false
        }
        if hasControl {
            report(pointer, .controlCharacter, "\(name) must not contain control characters")
            ok = false
        }
        return ok ? text : nil
    }

    private mutating func workMode(_ value: JSONValue?) -> WorkMode? {
        guard let value, value != .null else {
            report("/workMode", .required, "workMode is required")
            return nil
        }
        guard let raw = integerOrString(value) else {
            report("/workMode", .wrongType, "workMode must be a string or an integer; got \(value.typeName)")
            return nil
        }
        guard let number = raw.number, let mode = WorkMode(rawValue: number) else {
            report(
                "/workMode", .notAllowed,
                "workMode must be one of 0 (common), 1 (supervision), 2 (insertion), 3 (transfer); got \(TextRules.quotedExcerpt(raw.text))")
            return nil
        }
        return mode
    }

    private mutating func transferRequest(_ value: JSONValue?, workMode: WorkMode?) -> CallTransferRequest? {
        let pointer = "/callTransferRequest"
        guard let value, value != .null else {
            if workMode == .transfer { report(pointer, .required, "callTransferRequest is required when workMode is 3 (transfer)") }
            return nil
        }
        guard case .object(let members) = value else {
            report(pointer, .wrongType, "callTransferRequest must be an object; got \(value.typeName)")
            return nil
        }
        if let workMode, workMode != .transfer {
            report(pointer, .unexpected, "callTransferRequest is only allowed when workMode is 3 (transfer); workMode is \(workMode.rawValue)")
        }
        for member in members where !CommandDecoder.transferFields.contains(member.key) {
            report(JSONPointer.appending(pointer, member.key), .unknownField, "unknown field \(TextRules.quotedExcerpt(member.key))")
        }
        let fields = Fields(members)
        let type = transferType(fields["callTransferType"])
        let routeValue = self.routeValue(fields["callTransferRouteValue"], type: type)
        let transData = optionalText(
            fields["callTransferTransData"], pointer: pointer + "/callTransferTransData", name: "callTransferTransData",
            maxLength: CommandDecoder.maxTransDataLength
        )
        let callingNumber = optionalText(
            fields["callTransferNumber"], pointer: pointer + "/callTransferNumber", name: "callTransferNumber", maxLength: 32
        )
        if let callingNumber, !callingNumber.isEmpty, !TextRules.isPhoneNumber(callingNumber) {
            report(
                pointer + "/callTransferNumber", .invalidPhoneNumber,
                "callTransferNumber must be a phone number ('+' optional, then 1 to 32 digits); got \(TextRules.quotedExcerpt(callingNumber))")
        }
        guard let type else { return nil }
        return CallTransferRequest(
            type: type, routeValue: routeValue.flatMap { $0.isEmpty ? nil : $0 },
            transData: transData.flatMap { $0.isEmpty ? nil : $0 }, callingNumber: callingNumber.flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    private mutating func transferType(_ value: JSONValue?) -> CallTransferType? {
        let pointer = "/callTransferRequest/callTransferType"
        guard let value, value != .null else {
            report(pointer, .required, "callTransferType is required")
            return nil
        }
        guard let raw = integerOrString(value) else {
            report(pointer, .wrongType, "callTransferType must be a string or an integer; got \(value.typeName)")
            return nil
        }
        guard let number = raw.number, let type = CallTransferType(rawValue: number) else {
            report(pointer, .notAllowed, "callTransferType must be one of 1-8, 31, 32, 33; got \(TextRules.quotedExcerpt(raw.text))")
            return nil
        }
        return type
    }

    private mutating func routeValue(_ value: JSONValue?, type: CallTransferType?) -> String? {
        let pointer = "/callTransferRequest/callTransferRouteValue"
        let name = "callTransferRouteValue"
        if let type, !type.takesRouteValue {
            guard let value, value != .null else { return nil }
            if case .string(let text) = value, text.isEmpty { return nil }
            report(pointer, .unexpected, "callTransferType \(type.rawValue) takes no route value; leave callTransferRouteValue absent or empty")
            return nil
        }
        guard let value, value != .null else {
            if type != nil { report(pointer, .required, "\(name) is required for callTransferType \(type?.rawValue ?? 0)") }
            return nil
        }
        guard case .string(let text) = value else {
            report(pointer, .wrongType, "\(name) must be a string; got \(value.typeName)")
            return nil
        }
        guard let checked = checkedText(text, pointer: pointer, name: name, maxLength: CommandDecoder.maxRouteValueLength, allowEmpty: false)
        else { return nil }
        if type == .thirdPartyNumber, !TextRules.isPhoneNumber(checked) {
            report(
                pointer, .invalidPhoneNumber,
                "for callTransferType 5 the route value must be a phone number ('+' optional, then 1 to 32 digits); got \(TextRules.quotedExcerpt(checked))"
            )
            return nil
        }
        return checked
    }

    private mutating func optionalText(_ value: JSONValue?, pointer: String, name: String, maxLength: Int) -> String? {
        guard let value, value != .null else { return nil }
        guard case .string(let text) = value else {
            report(pointer, .wrongType, "\(name) must be a string; got \(value.typeName)")
            return nil
        }
        let length = TextRules.length(text)
        guard length <= maxLength else {
            report(pointer, .tooLong, "\(name) has \(length) characters; at most \(maxLength) are allowed")
            return nil
        }
        return text
    }

    private mutating func authToken(_ value: JSONValue?) -> String? {
        // Messages here never include the value: it is a credential.
        switch authMode {
        case .token:
            if value != nil {
                report("/authToken", .forbidden, "authToken must not be sent: the gateway obtains tokens itself (oifde.auth.mode is token)")
            }
            return nil
        case .passthrough:
            guard let value, value != .null else {
                report("/authToken", .required, "authToken is required when oifde.auth.mode is passthrough")
                return nil
            }
            guard case .string(let token) = value else {
                report("/authToken", .wrongType, "authToken must be a string; got \(value.typeName)")
                return nil
            }
            guard !token.isEmpty, token.utf8.count <= CommandDecoder.maxAuthTokenLength, !TextRules.containsControlCharacter(token) else {
                report(
                    "/authToken", .notAllowed,
                    "authToken must be a non-empty string of at most \(CommandDecoder.maxAuthTokenLength) bytes without control characters")
                return nil
            }
            return token
        }
    }

    // MARK: - helpers

    /// An integer given as a JSON integer or as a string of ASCII digits. `number` is nil when the
    /// value is a number or string that is not a plain integer (then it is out of the allowed set).
    private func integerOrString(_ value: JSONValue) -> (number: Int?, text: String)? {
        switch value {
        case .number(let text):
            return (Self.plainInteger(text), text)
        case .string(let text):
            return (Self.plainInteger(text), text)
        default:
            return nil
        }
    }

    private static func plainInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(text)
    }

    private func readableString(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value, !text.isEmpty, TextRules.length(text) <= CommandDecoder.maxIdentifierLength,
            !TextRules.containsControlCharacter(text)
        else { return nil }
        return text
    }

    private func readableScalar(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?, .number(let text)?: return TextRules.length(text) <= 8 ? text : nil
        default: return nil
        }
    }
}

/// Member lookup for the handful of fields a command has: a linear scan beats hashing here.
/// Duplicate names never reach this point (the parser refuses them).
private struct Fields {
    let members: [JSONValue.Member]
    init(_ members: [JSONValue.Member]) { self.members = members }
    subscript(key: String) -> JSONValue? { members.first(where: { $0.key == key })?.value }
}
