import Foundation
import Logging
import OIFDEClient
import Testing
import WorkModeDomain

/// TLS toward OIFDE is 1.2 or newer, and a client certificate goes out when configured
/// (docs/contract.md section 14). The peer is `openssl s_server`, which speaks whatever version it
/// is told to.
@Suite(.timeLimit(.minutes(10))) struct TLSFloorTests {
    /// `openssl s_server` on a free port with `arguments`, stopped after `body`.
    static func withOpenSSLServer(_ arguments: [String], _ body: (Int) async throws -> Void) async throws {
        // Outside the ephemeral range (32768-60999 here): in a whole-suite run an outgoing
        // connection held the port once, s_server exited, and the test saw "could not connect".
        // Above 65000, apart from the 61000-64999 the gateway tests hand out (`Harness.freePort`,
        // another module): a port drawn there was bound by s_server before the standby gateway
        // it was handed to bound its admin listener, which then stopped that gateway. A server
        // that exits all the same (another test took the port) is started on another.
        for _ in 0..<5 {
            let port = Int.random(in: 65000...65499)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-www"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // SIGKILL: the test runner ignores SIGTERM (a service-lifecycle test traps it), and an
            // ignored signal stays ignored in a child across exec.
            defer { kill(process.processIdentifier, SIGKILL) }
            // Listening: a plain connect succeeds (polled, never a fixed sleep; looked at once
            // more after the deadline, as a loaded suite may not schedule this task for seconds).
            let end = ContinuousClock.now + .seconds(30)
            var listening = false
            while true {
                let connected = (try? await Self.canConnect(port)) == true
                listening = connected && process.isRunning
                if listening || !process.isRunning || ContinuousClock.now >= end { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard listening else {
                guard process.isRunning else { continue }
                Issue.record("openssl s_server did not listen on \(port) within 30 s")
                return
            }
            try await body(port)
            return
        }
        Issue.record("openssl s_server exited on five ports in a row")
    }

    static func canConnect(_ port: Int) async throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func client(port: Int, certificates: TestCertificates, certFile: String? = nil, keyFile: String? = nil) throws -> OIFDEClient {
        let configuration = OIFDEConfiguration(
            baseURL: "https://localhost:\(port)", timeout: .seconds(5),
            tls: .init(caFile: certificates.caFile, certFile: certFile, keyFile: keyFile), authMode: .passthrough)
        return try OIFDEClient(configuration: configuration, logger: Logger(label: "tls", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static var passthroughCommand: WorkModeCommand {
        var command = command(.supervision, call: "tls")
        command.authToken = "publisher-token"
        return command
    }

    @Test func anOIFDEThatOffersOnlyTLS11IsRefusedBeforeAnythingIsSent() async throws {
        let certificates = try #require(await TestCertificates.shared())
        let old = ["-cert", certificates.certificateFile, "-key", certificates.keyFile, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
        try await Self.withOpenSSLServer(old) { port in
            try await withClient(try Self.client(port: port, certificates: certificates)) { client in
                let attempt = await client.changeWorkMode(Self.passthroughCommand, commandId: "tls11")
                #expect(attempt.summary.contains("TLS handshake failed"), "\(attempt.summary)")
                #expect(attempt.transportNeverSent && attempt.unknownOutcome == nil, "a refused handshake sent nothing")
            }
        }
        // The same server on TLS 1.2 gets past the handshake (it is no HTTP server, so what
        // follows fails otherwise).
        let current = ["-cert", certificates.certificateFile, "-key", certificates.keyFile, "-tls1_2"]
        try await Self.withOpenSSLServer(current) { port in
            try await withClient(try Self.client(port: port, certificates: certificates)) { client in
                let attempt = await client.changeWorkMode(Self.passthroughCommand, commandId: "tls12")
                #expect(!attempt.summary.contains("TLS handshake failed"), "\(attempt.summary)")
            }
        }
    }

    @Test func aClientCertificateIsPresentedWhenConfigured() async throws {
        let certificates = try #require(await TestCertificates.shared())
        let directory = certificates.directory
        // A client certificate from the same CA.
        let script = """
            cd '\(directory)' && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=gateway' 2>/dev/null \
            && printf 'extendedKeyUsage=clientAuth\\n' > client.cnf \
            && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 -extfile client.cnf 2>/dev/null
            """
        let made = Process()
        made.executableURL = URL(fileURLWithPath: "/bin/sh")
        made.arguments = ["-c", script]
        try made.run()
        made.waitUntilExit()
        #expect(made.terminationStatus == 0)
        // -Verify: the server refuses a client without a certificate.
        let mutual = ["-cert", certificates.certificateFile, "-key", certificates.keyFile, "-Verify", "1", "-CAfile", certificates.caFile]
        try await Self.withOpenSSLServer(mutual) { port in
            try await withClient(try Self.client(port: port, certificates: certificates)) { client in
                let without = await client.changeWorkMode(Self.passthroughCommand, commandId: "no-cert")
                // TLS 1.3: the refusal is an alert that comes after the client's side of the
                // handshake, before or after it writes the request; either way the server never
                // read it: not sent, not in doubt.
                let named = without.summary.contains("TLS handshake failed") || without.summary.contains("closedBeforeSending")
                #expect(named, "refused without a certificate: \(without.summary)")
                #expect(without.transportNeverSent && without.unknownOutcome == nil, "\(without.summary)")
            }
            let withCertificate = try Self.client(
                port: port, certificates: certificates, certFile: directory + "/client.pem", keyFile: directory + "/client.key")
            try await withClient(withCertificate) { client in
                let with = await client.changeWorkMode(Self.passthroughCommand, commandId: "with-cert")
                #expect(!with.summary.contains("TLS handshake failed"), "accepted with one: \(with.summary)")
            }
        }
    }

    @Test func aClientCertificateThatCannotBeReadIsRefusedAtSetup() async throws {
        let certificates = try #require(await TestCertificates.shared())
        #expect(throws: OIFDEClient.SetupError.self) {
            _ = try Self.client(port: 1, certificates: certificates, certFile: "/nonexistent.pem", keyFile: "/nonexistent.key")
        }
    }
}
