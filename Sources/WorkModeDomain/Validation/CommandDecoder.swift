/// Why a command is invalid: every problem found, plus whatever identifying fields could still be
/// read, so the result event can name the call.
public struct ValidationFailure: Error, Sendable, Hashable {
    /// Every problem found.
    public let errors: [ValidationError]
    /// The tenant, when readable (for the result event).
    public let tenantId: String?
    /// The call, when readable.
    public let callId: String?
    /// The agent, when readable.
    public let agentId: String?
    /// The mode, when readable.
    public let workMode: String?
}

/// Turns raw message bytes into a validated ``WorkModeCommand`` or the full list of problems
/// (docs/contract.md section 3). Pure and total: whatever the bytes, it returns, and never echoes an
/// auth token.
public struct CommandDecoder: Sendable {
    /// `oifde.auth.mode`: where tokens come from.
    public enum AuthMode: String, Sendable, Hashable {
        /// The gateway obtains tokens; a body must not carry one.
        case token
        /// The publisher supplies `authToken` in the body; the gateway forwards it.
        case passthrough
    }

    /// How deep a body may nest.
    public static let maxNestingDepth = 8
    /// tenantId, callId and agentId are at most this many characters.
    public static let maxIdentifierLength = 64
    /// callTransferRouteValue is at most this many characters.
    public static let maxRouteValueLength = 256
    /// callTransferTransData is at most this many characters.
    public static let maxTransDataLength = 4096
    /// A passthrough authToken is at most this many characters.
    public static let maxAuthTokenLength = 4096

    /// The largest body accepted, in bytes.
    public let maxMessageBytes: Int
    /// Where tokens come from.
    public let authMode: AuthMode

    /// A decoder with the limits of `pipeline.maxMessageBytes` and the rules of `oifde.auth.mode`.
    public init(maxMessageBytes: Int = 65536, authMode: AuthMode = .token) {
        self.maxMessageBytes = maxMessageBytes
        self.authMode = authMode
    }

    static let topLevelFields: Set<String> = ["tenantId", "callId", "agentId", "workMode", "callTransferRequest", "authToken"]
    static let transferFields: Set<String> = [
        "callTransferType", "callTransferRouteValue", "callTransferTransData", "callTransferNumber",
    ]

    /// The command in `body`, or every problem with it (each with a JSON pointer and a stable code).
    public func decode(_ body: [UInt8]) -> Result<WorkModeCommand, ValidationFailure> {
        func fail(_ error: ValidationError) -> Result<WorkModeCommand, ValidationFailure> {
            .failure(ValidationFailure(errors: [error], tenantId: nil, callId: nil, agentId: nil, workMode: nil))
        }
        guard body.count <= maxMessageBytes else {
            return fail(.init(pointer: "", code: .tooLarge, message: "the body has \(body.count) bytes; at most \(maxMessageBytes) are allowed"))
        }
        guard TextRules.isValidUTF8(body) else {
            return fail(.init(pointer: "", code: .invalidUTF8, message: "the body is not valid UTF-8"))
        }
        let document: JSONValue
        switch JSONParser.parse(body, maxDepth: Self.maxNestingDepth) {
        case .success(let value): document = value
        case .failure(let failure):
            let code: ValidationError.Code
            switch failure.kind {
            case .syntax: code = .malformedJSON
            case .tooDeep: code = .tooDeep
            case .duplicateKey: code = .duplicateField
            }
            return fail(.init(pointer: failure.pointer, code: code, message: failure.message))
        }
        guard case .object(let members) = document else {
            return fail(.init(pointer: "", code: .notAnObject, message: "the body must be a JSON object; got \(document.typeName)"))
        }
        var validation = CommandValidation(authMode: authMode)
        return validation.validate(members)
    }
}
