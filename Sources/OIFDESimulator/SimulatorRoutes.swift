import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WorkModeDomain

/// The HTTP face of the simulator: the two documented endpoints and the `/simulator/` controls.
enum SimulatorRoutes {
    static let maxBodyBytes = 1 << 20
    static let commandIdHeader = HTTPField.Name("X-Command-Id")!
    static let traceparentHeader = HTTPField.Name("traceparent")!

    struct ConnectionDrop: Error {}

    static func build(state: SimulatorState) -> Router<BasicRequestContext> {
        let router = Router()
        let latency = state.configuration.latency

        router.post("oifde/rest/api/gettoken") { request, _ -> Response in
            let body = try await request.body.collect(upTo: maxBodyBytes)
            if let early = try await injectFault(state: state, endpoint: .gettoken, commandId: nil) { return early }
            if latency > .zero { try await Task.sleep(for: latency) }
            let object = FlatJSONObject(parsing: Array(body.readableBytesView))
            let answer = state.issueToken(appKey: object?.string("appKey"), appSecret: object?.string("appSecret"))
            var json: [String: Any] = ["errorCode": answer.errorCode, "errorMsg": answer.errorMsg]
            if let token = answer.authToken { json["authToken"] = token }
            if let expire = answer.expireTime { json["expireTime"] = expire }
            return try jsonResponse(json)
        }

        router.post("oifde/rest/api/flow/changeWorkMode") { request, _ -> Response in
            let body = try await request.body.collect(upTo: maxBodyBytes)
            let commandId = request.headers[commandIdHeader]
            let tenantId = FlatJSONObject(parsing: Array(body.readableBytesView))?.string("tenantId")
            guard state.enter(tenantId: tenantId) else {
                state.recordFault(endpoint: FaultPlan.Target.changeWorkMode.rawValue, commandId: commandId, errorCode: "429")
                return try jsonResponse(["errorCode": "10000429", "errorMsg": "too many concurrent requests"], status: .tooManyRequests)
            }
            defer { state.leave() }
            if let early = try await injectFault(state: state, endpoint: .changeWorkMode, commandId: commandId) { return early }
            if latency > .zero { try await Task.sleep(for: latency) }
            let answer = state.changeWorkMode(
                body: Array(body.readableBytesView), commandId: commandId, traceparent: request.headers[traceparentHeader]
            )
            return answerResponse(errorCode: answer.errorCode, errorMsg: answer.errorMsg)
        }

        router.put("simulator/sessions/:tenantId/:callId") { request, context -> Response in
            let tenantId = try context.parameters.require("tenantId")
            let callId = try context.parameters.require("callId")
            let body = try await request.body.collect(upTo: 4096)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let raw = (object?["workMode"] as? String) ?? (object?["workMode"] as? Int).map(String.init)
            guard let raw, let number = Int(raw), let mode = WorkMode(rawValue: number) else {
                return try jsonResponse(["error": "workMode must be 0, 1, 2 or 3"], status: .badRequest)
            }
            state.setSession(tenantId: tenantId, callId: callId, workMode: mode)
            return try encodedResponse(state.session(tenantId: tenantId, callId: callId))
        }

        router.get("simulator/sessions/:tenantId/:callId") { _, context -> Response in
            let tenantId = try context.parameters.require("tenantId")
            let callId = try context.parameters.require("callId")
            guard let session = state.session(tenantId: tenantId, callId: callId) else {
                return try jsonResponse(["error": "no such session"], status: .notFound)
            }
            return try encodedResponse(session)
        }

        router.get("simulator/requests") { _, _ -> Response in try encodedResponse(state.requests) }
        router.get("simulator/stats") { _, _ -> Response in try encodedResponse(state.stats) }
        router.delete("simulator/requests") { _, _ -> Response in
            state.clearRequests()
            return Response(status: .noContent)
        }

        router.put("simulator/faults") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 4096)
            do {
                let plan = try JSONDecoder().decode(FaultPlan.self, from: Data(body.readableBytesView))
                state.setFault(plan)
                return try encodedResponse(plan)
            } catch {
                return try jsonResponse(["error": "not a fault plan: \(error)"], status: .badRequest)
            }
        }
        router.delete("simulator/faults") { _, _ -> Response in
            state.setFault(nil)
            return Response(status: .noContent)
        }
        return router
    }

    /// Applies the active fault, if any. Returns the response to send instead of the real one, or
    /// nil to carry on (after any injected latency).
    static func injectFault(state: SimulatorState, endpoint: FaultPlan.Target, commandId: String?) async throws -> Response? {
        guard let fault = state.takeFault(for: endpoint) else { return nil }
        let latency = (fault.latencyMs ?? 0) + Int.random(in: 0...max(0, fault.latencyJitterMs ?? 0))
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        if let hang = fault.hangSeconds {
            state.recordFault(endpoint: endpoint.rawValue, commandId: commandId, errorCode: "hang")
            try await Task.sleep(for: .seconds(hang))
        }
        if fault.closeConnection == true {
            state.recordFault(endpoint: endpoint.rawValue, commandId: commandId, errorCode: "closed")
            // A promised body that never comes: the server drops the connection mid-response.
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(contentLength: 64) { _ in
                    throw ConnectionDrop()
                })
        }
        if fault.rawBody != nil || fault.trickleIntervalMs != nil || fault.location != nil {
            state.recordFault(endpoint: endpoint.rawValue, commandId: commandId, errorCode: "raw")
            let bytes = Array((fault.rawBody ?? #"{"errorCode":"0","errorMsg":""}"#).utf8)
            var headers: HTTPFields = [.contentType: "application/json"]
            if let location = fault.location { headers[.location] = location }
            let status = HTTPResponse.Status(code: fault.httpStatus ?? 200)
            guard let interval = fault.trickleIntervalMs else {
                return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: bytes.count) { writer in
                    for byte in bytes {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: .milliseconds(interval))
                    }
                    try await writer.finish(nil)
                })
        }
        guard fault.httpStatus != nil || fault.errorCode != nil else { return nil }
        let errorCode = fault.errorCode ?? "10000001"
        state.recordFault(endpoint: endpoint.rawValue, commandId: commandId, errorCode: errorCode)
        var response = try jsonResponse(
            ["errorCode": endpoint == .gettoken ? (Int(errorCode) ?? 10_000_001) as Any : errorCode, "errorMsg": fault.errorMsg ?? "injected fault"],
            status: HTTPResponse.Status(code: fault.httpStatus ?? 200)
        )
        if let retryAfter = fault.retryAfterSeconds { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    /// The hot path's answer, written without Foundation's dictionary bridging (a fifth of the
    /// simulator's CPU under load went there).
    static func answerResponse(errorCode: String, errorMsg: String) -> Response {
        var writer = JSONWriter(capacity: 64 + errorMsg.utf8.count)
        writer.beginObject()
        writer.member("errorCode", errorCode)
        writer.member("errorMsg", errorMsg)
        writer.endObject()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }

    static func jsonResponse(_ object: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encodedResponse(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
