import AMQP
import Foundation
import Testing

/// The broker over TLS, on a private node with a TLS listener made from `make-certs.sh`: the
/// client trusts only the CA it is given, and checks the host name (librabbitmq 0.11 matches DNS
/// names only, so the certificate's `localhost` passes and `127.0.0.1` does not).
@Suite(.timeLimit(.minutes(10))) struct BrokerTLSTests {
    static let port = Harness.freeBrokerPort()

    static func makeCertificates() async throws -> String {
        let directory = try Harness.temporaryDirectory() + "/certs"
        let made = try await Subprocess.run("/bin/bash", [Harness.packageRoot + "/deploy/local/make-certs.sh", directory])
        guard made.status == 0 else { throw HarnessError("make-certs.sh failed") }
        return directory
    }

    @Test func amqpsConnectsWithTheCAAndRefusesAWrongCAOrHostName() async throws {
        let certificates = try await Self.makeCertificates()
        let environment = ["WMG_BROKER_PORT": String(Self.port), "WMG_BROKER_TLS_DIR": certificates]
        let script = Harness.packageRoot + "/deploy/local/broker.sh"
        let started = try await Subprocess.run("/bin/bash", [script, "fresh"], environment: environment, mergeErrors: true)
        try #require(started.status == 0, "\(started.output)")
        do {
            try await Self.scenario(script: script, environment: environment, certificates: certificates)
        } catch {
            _ = try? await Subprocess.run("/bin/bash", [script, "stop"], environment: environment)
            throw error
        }
        _ = try await Subprocess.run("/bin/bash", [script, "stop"], environment: environment)
    }

    static func scenario(script: String, environment: [String: String], certificates: String) async throws {
        let url = try await Subprocess.run("/bin/bash", [script, "url-tls"], environment: environment).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("amqps://guest:guest@localhost:"))

        var trusting = try AMQPConfiguration(url: url)
        trusting.tls?.caFile = certificates + "/ca.pem"
        let connection = try await AMQPConnection.connect(trusting)
        let channel = try await connection.openChannel(publisherConfirms: true)
        let queue = "tls-\(UUID().uuidString.prefix(8))"
        try await channel.declareQueue(queue, durable: false, exclusive: true, autoDelete: true)
        #expect(try await channel.publishAndConfirm(Array("over TLS".utf8), exchange: "", routingKey: queue) == .acked)
        #expect(try await channel.get(queue: queue)?.body == Array("over TLS".utf8))
        await connection.close()

        // Another CA: the chain does not verify.
        let stranger = try await Self.makeCertificates()
        var wrongCA = try AMQPConfiguration(url: url)
        wrongCA.tls?.caFile = stranger + "/ca.pem"
        await #expect(throws: AMQPError.self) { _ = try await AMQPConnection.connect(wrongCA) }

        // The right CA, but a name the certificate does not carry as a DNS name.
        var byAddress = try AMQPConfiguration(url: url.replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:"))
        byAddress.tls?.caFile = certificates + "/ca.pem"
        await #expect(throws: AMQPError.self) { _ = try await AMQPConnection.connect(byAddress) }
    }
}
