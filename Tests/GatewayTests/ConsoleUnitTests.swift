import AMQP
import Foundation
import GatewayConfig
import Testing

@testable import DeadLetterConsole
@testable import Operations

/// The console's pure parts: when it is served, the token's rules, masking, and form parsing.
@Suite(.timeLimit(.minutes(10))) struct ConsoleUnitTests {
    func configuration(_ environment: [String: String]) throws(ConfigurationError) -> GatewayConfiguration {
        try ConfigurationLoader(environment: environment).load(path: nil)
    }

    @Test func theConsoleIsServedWithATokenOrOnLoopbackOnly() throws {
        #expect(ConsoleAccess(configuration: try configuration([:])).mode == .loopbackWithoutToken)
        #expect(ConsoleAccess(configuration: try configuration(["WMG_ADMIN_LISTEN": "[::1]:9090"])).mode == .loopbackWithoutToken)
        #expect(ConsoleAccess(configuration: try configuration(["WMG_ADMIN_LISTEN": "0.0.0.0:9090"])).mode == .off)
        #expect(ConsoleAccess(configuration: try configuration(["WMG_ADMIN_LISTEN": "10.1.2.3:9090"])).mode == .off)
        let withToken = try configuration(["WMG_ADMIN_LISTEN": "0.0.0.0:9090", "WMG_ADMIN_TOKEN": "a-long-enough-token"])
        let access = ConsoleAccess(configuration: withToken)
        #expect(access.mode == .token)
        #expect(access.matches("a-long-enough-token"))
        #expect(!access.matches("a-long-enough-toke") && !access.matches("a-long-enough-tokenX") && !access.matches(""))
        #expect(access.logIn(with: "wrong") == nil)
        let first = access.logIn(with: "a-long-enough-token")
        let second = access.logIn(with: "a-long-enough-token")
        #expect(first != nil && first != second && (first?.count ?? 0) >= 32, "each login its own unguessable session")
    }

    @Test func theTokenIsLongEnoughAndComesFromOnePlace() throws {
        #expect(throws: ConfigurationError.self) { _ = try configuration(["WMG_ADMIN_TOKEN": "short"]) }
        let file = try Harness.temporaryDirectory() + "/token"
        try "  from-a-file-0123456789\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try configuration(["WMG_ADMIN_TOKENFILE": file]).adminToken?.reveal() == "from-a-file-0123456789")
        #expect(throws: ConfigurationError.self) { _ = try configuration(["WMG_ADMIN_TOKENFILE": file, "WMG_ADMIN_TOKEN": "another-long-token-00"]) }
        #expect(throws: ConfigurationError.self) { _ = try configuration(["WMG_ADMIN_TOKENFILE": "/nonexistent/token"]) }
        #expect("\(try configuration(["WMG_ADMIN_TOKEN": "another-long-token-00"]).adminToken.map { "\($0)" } ?? "")" == "<secret>")
    }

    @Test func secretsAreMaskedWhereverTheyAppear() {
        let body = #"{"tenantId":"t1","authToken":"abc\"def","nested":{"appSecret":"s3"},"x":{"Password" : 1234},"token":"t","note":"token"}"#
        let masked = SecretMask.maskJSON(body)
        #expect(!masked.contains("abc") && !masked.contains("s3") && !masked.contains("1234"), "\(masked)")
        #expect(masked.contains(#""note":"token""#), "a value that merely says token is kept: \(masked)")
        #expect(masked.contains(#""tenantId":"t1""#))
        #expect(SecretMask.maskJSON("not json: authToken=abc") == "not json: authToken=abc")
        let headers = DeadLetterRecord.json(.table(["x-auth-token": .string("sekrit"), "x-failure-class": .string("<b>")]))
        #expect(!headers.contains("sekrit") && headers.contains(#""x-auth-token":"\u003cmasked>""#), "\(headers)")
        #expect(headers.contains(#""\u003cb>""#), "no markup even in raw JSON: \(headers)")
    }

    @Test func theLoginFormIsDecoded() {
        #expect(FormBody.parse("token=a%2Bb+c&other=") == ["token": "a+b c", "other": ""])
        #expect(FormBody.parse("") == [:])
    }
}
