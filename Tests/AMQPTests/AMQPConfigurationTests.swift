import Testing

@testable import AMQP

@Suite(.timeLimit(.minutes(10))) struct AMQPConfigurationTests {
    @Test func parsesEveryPart() throws {
        let c = try AMQPConfiguration(url: "amqp://alice:s%40cret@broker.example:5673/prod%2Fcc")
        #expect(c.user == "alice")
        #expect(c.password == "s@cret")
        #expect(c.host == "broker.example")
        #expect(c.port == 5673)
        #expect(c.virtualHost == "prod/cc")
        #expect(c.tls == nil)
    }

    @Test func defaultVirtualHostAndPorts() throws {
        #expect(try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:5672/%2f").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://h").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://h/").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://h").port == 5672)
        let tls = try AMQPConfiguration(url: "amqps://h")
        #expect(tls.port == 5671)
        #expect(tls.tls?.verifyPeer == true)
    }

    @Test func ipv6Host() throws {
        let c = try AMQPConfiguration(url: "amqp://u:p@[::1]:5999/v")
        #expect(c.host == "::1")
        #expect(c.port == 5999)
    }

    @Test(arguments: [
        "http://h", "amqp://", "amqp://h:0", "amqp://h:70000", "amqp://h:abc", "amqp://h/a/b", "amqp://h/%zz",
        "amqp://h?heartbeat=5", "amqp://[::1", "amqp://u:p@",
    ])
    func rejectsBadURLs(_ url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
    }

    @Test func descriptionMasksThePassword() throws {
        let c = try AMQPConfiguration(url: "amqp://alice:topsecret@h:1/%2f")
        #expect(!c.description.contains("topsecret"))
        #expect(c.description == "amqp://alice:***@h:1/%2f")
    }

    @Test func errorNeverEchoesThePassword() {
        do {
            _ = try AMQPConfiguration(url: "amqp://alice:topsecret%zz@h")
            Issue.record("expected an error")
        } catch {
            #expect(!String(describing: error).contains("topsecret"))
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct ClusterURLTests {
    @Test func aURLMayNameSeveralNodes() throws {
        let nodes = try AMQPConfiguration.cluster(url: "amqps://gate%40way:p%2Fss@rabbit-0:5671,rabbit-1,[::1]:5673/contact-center")
        #expect(nodes.map(\.host) == ["rabbit-0", "rabbit-1", "::1"])
        #expect(nodes.map(\.port) == [5671, 5671, 5673])
        #expect(nodes.allSatisfy { $0.user == "gate@way" && $0.password == "p/ss" && $0.virtualHost == "contact-center" && $0.tls != nil })
        #expect(try AMQPConfiguration.cluster(url: "amqp://guest:guest@127.0.0.1:5672/%2f").count == 1)
    }

    @Test func anEmptyNodeIsRefusedWithoutThePassword() {
        #expect(throws: AMQPError.self) { _ = try AMQPConfiguration.cluster(url: "amqp://u:secret-pw@h1,,h2/") }
        do {
            _ = try AMQPConfiguration.cluster(url: "amqp://u:secret-pw@h1,,h2/")
        } catch {
            #expect(!"\(error)".contains("secret-pw"))
        }
    }
}
