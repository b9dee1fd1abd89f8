// swift-tools-version: 6.1
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
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
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
        // Benchmarks print figures; they are never timed tests.
        .executableTarget(
            name: "wmg-bench",
            dependencies: ["AMQP", "WorkModeDomain"],
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
