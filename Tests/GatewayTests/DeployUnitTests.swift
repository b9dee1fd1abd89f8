import Foundation
import GatewayConfig
import Testing

/// The deploy units, each checked by the tool made for it: the systemd unit by
/// `systemd-analyze verify`, the Containerfile by hadolint, the Kubernetes manifests by
/// kubernetes-validate (strict, offline schemas).
@Suite(.timeLimit(.minutes(10))) struct DeployUnitTests {
    @Test func theSystemdUnitVerifiesWithoutAWarning() async throws {
        let directory = try Harness.temporaryDirectory()
        let unit = try String(contentsOfFile: Harness.packageRoot + "/deploy/systemd/workmode-gateway.service", encoding: .utf8)
        #expect(unit.contains("StateDirectory=workmode-gateway") && unit.contains("LoadCredential=") && unit.contains("NoNewPrivileges=yes"))
        #expect(unit.contains("ProtectSystem=strict") && unit.contains("PrivateTmp=yes") && unit.contains("RestrictAddressFamilies="))
        #expect(unit.contains("RestartPreventExitStatus=78"), "a configuration error is not restarted in a loop")
        // systemd checks that the program exists: point it at the one just built.
        let local = unit.replacingOccurrences(of: "/usr/local/bin/workmode-gateway", with: Harness.binary)
        try local.write(toFile: directory + "/workmode-gateway.service", atomically: true, encoding: .utf8)
        let verified = try await Subprocess.run("/usr/bin/systemd-analyze", ["verify", directory + "/workmode-gateway.service"], mergeErrors: true)
        #expect(verified.status == 0, "\(verified.output)")
        // It only warns about unknown or wrong keys: any line is a failure here.
        #expect(verified.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(verified.output)")
    }

    /// The unit's SystemCallFilter=@system-service and MemoryDenyWriteExecute=yes hold the binary:
    /// every system call of a start, three commands and a drain is in the set, no mapping is W+X.
    @Test(.timeLimit(.minutes(3))) func theUnitsSandboxHoldsTheBinary() async throws {
        let unit = try String(contentsOfFile: Harness.packageRoot + "/deploy/systemd/workmode-gateway.service", encoding: .utf8)
        #expect(unit.contains("SystemCallFilter=@system-service") && unit.contains("MemoryDenyWriteExecute=yes"))
        #expect(unit.contains("SystemCallErrorNumber=EPERM") && unit.contains("WMG_AMQP_PASSWORDFILE=%d/amqp-password"))
        let checked = try await Subprocess.run(
            "/bin/bash", [Harness.packageRoot + "/deploy/systemd/check-sandbox.sh", Harness.binary, Harness.amqpURL], mergeErrors: true)
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("outside @system-service: none"), "\(checked.output)")
        #expect(checked.output.contains("writable+executable mappings: none"), "\(checked.output)")
    }

    @Test func theContainerfilePassesHadolint() async throws {
        let linted = try await Subprocess.run(
            "/usr/bin/env", ["hadolint", "--no-color", Harness.packageRoot + "/deploy/container/Containerfile"], mergeErrors: true)
        #expect(linted.status == 0, "\(linted.output)")
        #expect(linted.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(linted.output)")
    }

    @Test func theKubernetesManifestsValidate() async throws {
        let directory = Harness.packageRoot + "/deploy/kubernetes"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(
            Set(files).isSuperset(of: [
                "statefulset.yaml", "configmap.yaml", "secret.example.yaml", "service.yaml", "pdb.yaml", "servicemonitor.yaml",
                "prometheusrule.yaml",
            ]))
        let validated = try await Subprocess.run(
            "/usr/bin/env", ["kubernetes-validate", "--strict", "--quiet"] + files.map { directory + "/" + $0 }, mergeErrors: true)
        #expect(validated.status == 0, "\(validated.output)")
        // Custom resources (Prometheus Operator, KEDA) have no built-in schema: the only lines allowed.
        let unexpected = validated.output.split(separator: "\n").filter { !$0.contains("Couldn't find schema for kind") }
        #expect(unexpected.isEmpty, "\(validated.output)")
        let statefulSet = try String(contentsOfFile: directory + "/statefulset.yaml", encoding: .utf8)
        #expect(statefulSet.contains("/health/live") && statefulSet.contains("/health/ready") && statefulSet.contains("volumeClaimTemplates"))
        #expect(statefulSet.contains("automountServiceAccountToken: false") && statefulSet.contains("topologySpreadConstraints"))
        #expect(statefulSet.contains("mountPath: /tmp") && statefulSet.contains("emptyDir"), "publish - needs a writable /tmp")
        let budget = try String(contentsOfFile: directory + "/pdb.yaml", encoding: .utf8)
        #expect(budget.contains("unhealthyPodEvictionPolicy: AlwaysAllow"), "a drain is never blocked while the broker is down")
        // The PrometheusRule carries exactly the alert rules Prometheus users load from the file.
        let script = """
            import sys, yaml
            rule = yaml.safe_load(open(sys.argv[1]))
            alerts = yaml.safe_load(open(sys.argv[2]))
            print("same" if rule["spec"] == alerts else "differ")
            """
        let compared = try await Subprocess.run(
            "/usr/bin/python3", ["-c", script, directory + "/prometheusrule.yaml", Harness.packageRoot + "/deploy/observability/alerts.yaml"],
            mergeErrors: true)
        #expect(compared.output.trimmingCharacters(in: .whitespacesAndNewlines) == "same", "\(compared.output)")
    }

    /// The ConfigMap's gateway.yaml is a configuration the gateway accepts, as each pod sees it
    /// (its ordinal from the pod name), and its replicas.count is the StatefulSet's spec.replicas.
    @Test func theConfigMapIsAValidConfigurationForEveryPod() throws {
        let directory = Harness.packageRoot + "/deploy/kubernetes"
        let configMap = try String(contentsOfFile: directory + "/configmap.yaml", encoding: .utf8)
        let statefulSet = try String(contentsOfFile: directory + "/statefulset.yaml", encoding: .utf8)
        let pods = try Self.expectEveryPodConfigured(configMap: configMap, statefulSet: statefulSet)
        #expect(pods == 2)
    }

    /// render.sh sets the replica count once for both objects; what it prints validates, and every
    /// pod of it gets a configuration naming the same count. Impossible counts are refused.
    @Test func renderSetsTheReplicaCountOnceForBothObjects() async throws {
        let script = Harness.packageRoot + "/deploy/kubernetes/render.sh"
        let rendered = try await Subprocess.run("/bin/bash", [script, "--replicas", "3", "--partitions", "6"])
        #expect(rendered.status == 0, "\(rendered.output)")
        let documents = rendered.output.components(separatedBy: "\n---\n")
        let configMap = try #require(documents.first { $0.contains("kind: ConfigMap") })
        let statefulSet = try #require(documents.first { $0.contains("kind: StatefulSet") })
        #expect(try Self.expectEveryPodConfigured(configMap: configMap, statefulSet: statefulSet) == 3)
        #expect(!statefulSet.contains("config-checksum: \"unrendered\""), "the checksum annotation restarts pods on a change")
        let path = try Harness.temporaryDirectory() + "/rendered.yaml"
        try rendered.output.write(toFile: path, atomically: true, encoding: .utf8)
        let validated = try await Subprocess.run("/usr/bin/env", ["kubernetes-validate", "--strict", "--quiet", path], mergeErrors: true)
        let unexpected = validated.output.split(separator: "\n").filter { !$0.contains("Couldn't find schema for kind") }
        #expect(validated.status == 0 && unexpected.isEmpty, "\(validated.output)")
        // Another count changes the checksum, so the pods restart with it.
        let four = try await Subprocess.run("/bin/bash", [script, "--replicas", "4", "--partitions", "6"])
        let checksum = { (text: String) in text.split(separator: "\n").first { $0.contains("config-checksum:") }.map(String.init) }
        #expect(checksum(four.output) != nil && checksum(four.output) != checksum(rendered.output))
        for bad in [["--replicas", "5", "--partitions", "4"], ["--replicas", "0"], ["--replicas", "two"], ["--partitions"]] {
            let refused = try await Subprocess.run("/bin/bash", [script] + bad, mergeErrors: true)
            #expect(refused.status == 2 && refused.output.split(separator: "\n").count == 1, "\(bad): \(refused.output)")
        }
    }

    /// Loads the ConfigMap's gateway.yaml as each pod of the StatefulSet would; returns the pod count.
    static func expectEveryPodConfigured(configMap: String, statefulSet: String) throws -> Int {
        let lines = configMap.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.contains("gateway.yaml: |") })
        let yaml = lines[(start + 1)...].prefix { $0.isEmpty || $0.hasPrefix("    ") }.map { $0.dropFirst(min(4, $0.count)) }.joined(separator: "\n")
        let path = try Harness.temporaryDirectory() + "/gateway.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let replicasLine = try #require(statefulSet.split(separator: "\n").first { $0.hasPrefix("  replicas:") })
        let podCount = try #require(Int(replicasLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)))
        #expect(statefulSet.contains("- name: WMG_REPLICAS_ORDINAL"), "the ordinal comes from the pod's name")
        for ordinal in 0..<podCount {
            let configuration = try ConfigurationLoader(environment: ["WMG_REPLICAS_ORDINAL": "workmode-gateway-\(ordinal)"]).load(path: path)
            #expect(configuration.replicas.count == podCount, "replicas.count matches spec.replicas")
            #expect(configuration.replicas.ordinal == ordinal)
            #expect(configuration.topology.partitions >= podCount, "every pod owns a partition")
        }
        return podCount
    }
}
