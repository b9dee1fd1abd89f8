// swift-tools-version: 6.2
import PackageDescription

// One settings array for every Swift target, so the whole package builds under the same rules.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "workmode-gateway",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "WorkModeDomain", targets: ["WorkModeDomain"]),
    ],
    traits: [
        .trait(
            name: "OTLPTracing",
            description:
                "Exports traces over OTLP/HTTP (swift-otel, which brings async-http-client). Without it the build carries neither, and tracing.otlp.endpoint is refused at start."
        ),
        .default(enabledTraits: ["OTLPTracing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.0"),
        // Traces over OTLP/HTTP only: the gRPC exporter's dependencies would double the build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
    ],
    targets: [
        // Layer 0: librabbitmq 0.11 (Debian) or 0.12+ headers, plus shims for what Swift cannot call.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // Layer 1: a safe Swift AMQP 0-9-1 client. No C type leaves this module.
        .target(name: "AMQP", dependencies: ["CRabbitMQ"], swiftSettings: strict),
        // Layer 2: the command domain: model, validation, events. Pure: no I/O.
        .target(name: "WorkModeDomain", swiftSettings: strict),
        // The git commit of the build, for --version, the start line and wmg_build_info.
        .plugin(name: "BuildCommit", capability: .buildTool()),
        // Layer 3: the OIFDE HTTP client with managed tokens.
        .target(
            name: "OIFDEClient",
            dependencies: [
                "WorkModeDomain",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // Layer 4a: configuration and topology, shared by the daemon and the operator tools without
        // the HTTP client, the admin server or the metrics backend.
        .target(
            name: "GatewayConfig",
            dependencies: [
                "AMQP", "WorkModeDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // Layer 4a': the pipeline's rules as state machines: no I/O, no clock, no broker or HTTP types.
        .target(name: "PipelineCore", dependencies: ["WorkModeDomain"], swiftSettings: strict),
        // Layer 4b: the gateway pipeline: lanes, retries, journal, drain, admin listener.
        .target(
            name: "Gateway",
            dependencies: [
                "AMQP", "WorkModeDomain", "OIFDEClient", "GatewayConfig", "PipelineCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLPTracing"])),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict,
            plugins: ["BuildCommit"]
        ),
        // The operator tools (validate, publish, dead-letters, topology): used by hand and by batch jobs.
        .target(
            name: "Operations",
            dependencies: ["AMQP", "WorkModeDomain", "GatewayConfig"],
            swiftSettings: strict
        ),
        // The dead-letter console on the admin listener: a page and a JSON API over the operator tools.
        .target(
            name: "DeadLetterConsole",
            dependencies: [
                "Operations", "GatewayConfig", "WorkModeDomain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The OIFDE simulator, for tests, demos and benchmarks. Its own target: the gateway never depends on it.
        .target(
            name: "OIFDESimulator",
            dependencies: [
                "WorkModeDomain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // The command line: parsing only; the work lives in the targets above.
        .executableTarget(
            name: "workmode-gateway",
            dependencies: [
                "Gateway", "GatewayConfig", "Operations", "OIFDESimulator", "DeadLetterConsole",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "WorkModeDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks print figures; they are never timed tests.
        .executableTarget(
            name: "wmg-bench",
            dependencies: [
                "AMQP", "WorkModeDomain", "OIFDEClient", "Gateway", "GatewayConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: [
                "AMQP",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "AMQPIntegrationTests", dependencies: ["AMQP"], swiftSettings: strict),
        // End to end: the built executable as a separate process, the real broker, the simulator.
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "AMQP", "Gateway", "GatewayConfig", "Operations", "WorkModeDomain", "DeadLetterConsole",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OIFDETests",
            dependencies: [
                "OIFDEClient", "OIFDESimulator", "WorkModeDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "Operations", "WorkModeDomain",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PipelineCoreTests",
            dependencies: ["PipelineCore", "WorkModeDomain"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkModeDomainTests",
            dependencies: [
                "WorkModeDomain",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
