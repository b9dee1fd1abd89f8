/// The JSON sent to `changeWorkMode`: every value a string, as the interface documents.
public enum OIFDERequestBody {
    /// - Parameter authToken: added by the caller (a managed token, or the command's own in
    ///   passthrough mode).
    public static func encode(_ command: WorkModeCommand, authToken: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writeFields(command, into: &writer)
        writer.member("authToken", authToken)
        writer.endObject()
        return writer.bytes
    }

    /// The body a publisher puts on the queue for this command (no token unless it carries one).
    public static func commandBody(_ command: WorkModeCommand) -> [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writeFields(command, into: &writer)
        writer.member("authToken", command.authToken)
        writer.endObject()
        return writer.bytes
    }

    private static func writeFields(_ command: WorkModeCommand, into writer: inout JSONWriter) {
        writer.beginObject()
        writer.member("tenantId", command.tenantId)
        writer.member("callId", command.callId)
        writer.member("agentId", command.agentId)
        writer.member("workMode", command.workMode.wireValue)
        if let transfer = command.callTransferRequest {
            writer.key("callTransferRequest")
            writer.beginObject()
            writer.member("callTransferType", transfer.type.wireValue)
            writer.member("callTransferRouteValue", transfer.routeValue ?? (transfer.type.takesRouteValue ? nil : ""))
            writer.member("callTransferTransData", transfer.transData)
            writer.member("callTransferNumber", transfer.callingNumber)
            writer.endObject()
        }
    }
}
