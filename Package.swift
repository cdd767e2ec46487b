// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ticketing",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ticketing", targets: ["ticketing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.0"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/vapor/jwt.git", from: "5.2.0"),
        .package(url: "https://github.com/vapor/leaf.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .target(
            name: "JetStream",
            dependencies: [
                "CNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TicketingCore",
            dependencies: [
                "JetStream",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "JWT", package: "jwt"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Auth", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Tickets", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Orders", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Expiration", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Payments", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(
            name: "Web",
            dependencies: ["TicketingCore", .product(name: "Leaf", package: "leaf"), .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ticketing",
            dependencies: [
                "TicketingCore",
                "Auth",
                "Tickets",
                "Orders",
                "Expiration",
                "Payments",
                "Web",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bench-events",
            dependencies: ["TicketingCore", "JetStream"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bench-load",
            dependencies: ["JetStream", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TicketingTesting",
            dependencies: ["TicketingCore", "JetStream", .product(name: "XCTVapor", package: "vapor")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TicketingCoreTests",
            dependencies: ["TicketingCore", "JetStream", "TicketingTesting", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JetStreamTests",
            dependencies: ["JetStream", "TicketingTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TicketsTests",
            dependencies: ["Tickets", "TicketingTesting", "JetStream"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrdersTests",
            dependencies: ["Orders", "TicketingTesting", "JetStream"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExpirationTests",
            dependencies: ["Expiration", "TicketingTesting", "JetStream"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PaymentsTests",
            dependencies: ["Payments", "TicketingTesting", "JetStream"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebTests",
            dependencies: ["Web", "TicketingTesting", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: ["Auth", "TicketingTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
