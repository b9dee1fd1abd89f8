import Foundation
import Hummingbird
import NIOCore

/// The console's responses, each with headers that keep a page from being framed, sniffed,
/// cached, or made to run anything but its own script.
enum ConsoleResponse {
    /// Scripts and styles only from this listener; no frames, no plugins, no form posts elsewhere.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func headers(contentType: String) -> HTTPFields {
        [
            .contentType: contentType, .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
            .cacheControl: "no-store",
        ]
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: headers(contentType: "text/html; charset=utf-8"), body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: headers(contentType: type), body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(#"{"error":"unencodable"}"#.utf8)
        return Response(status: status, headers: headers(contentType: "application/json"), body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func redirect(to path: String) -> Response {
        var fields = headers(contentType: "text/plain; charset=utf-8")
        fields[.location] = path
        return Response(status: .seeOther, headers: fields)
    }

    static func off(_ access: ConsoleAccess) -> Response {
        json(["error": access.startLine + "; set admin.token (or admin.tokenFile) to serve it on this address"], status: .notFound)
    }

    static func foreignHost() -> Response {
        json(
            ["error": "refused: without admin.token the console answers only requests addressed to localhost, 127.0.0.1 or [::1]"], status: .forbidden
        )
    }

    static func crossOrigin() -> Response {
        json(["error": "refused: a request that changes something needs an Origin header naming this listener"], status: .forbidden)
    }

    static func bodyText(_ request: Request) async throws -> String {
        String(buffer: try await request.body.collect(upTo: 1 << 20))
    }
}
