// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// The service binary's release link on Linux: lld packs its relative relocations (DT_RELR), which otherwise fill
/// megabytes that every process reads at start-up, and exports no symbols (the executable is nobody's library), so
/// neither the dynamic symbol table nor its strings are paged in.
let residentLinking: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
                 .when(platforms: [.linux], configuration: .release)),
]

/// What the packages above depend on, pinned too, so that a build without Package.resolved (the release image's)
/// resolves exactly these versions: this environment's package copies cannot be pinned by commit. SwiftPM warns about a
/// package no target uses, so the executable names one product of each, one the graph builds anyway. (Two packages of
/// the graph, swift-http-types and swift-http-structured-headers, build nothing here and are left to resolve.)
let transitive: [(url: String, version: Version, product: String)] = [
    ("https://github.com/vapor/async-kit.git", "1.22.0", "AsyncKit"),
    ("https://github.com/vapor/console-kit.git", "4.16.2", "ConsoleKit"),
    ("https://github.com/vapor/jwt-kit.git", "5.8.0", "JWTKit"),
    ("https://github.com/vapor/leaf-kit.git", "1.14.3", "LeafKit"),
    ("https://github.com/vapor/multipart-kit.git", "4.7.1", "MultipartKit"),
    ("https://github.com/vapor/postgres-kit.git", "2.17.0", "PostgresKit"),
    ("https://github.com/vapor/postgres-nio.git", "1.33.2", "PostgresNIO"),
    ("https://github.com/vapor/routing-kit.git", "4.9.3", "RoutingKit"),
    ("https://github.com/vapor/sqlite-kit.git", "4.5.2", "SQLiteKit"),
    ("https://github.com/vapor/sqlite-nio.git", "1.13.2", "SQLiteNIO"),
    ("https://github.com/apple/swift-algorithms.git", "1.2.1", "Algorithms"),
    ("https://github.com/apple/swift-asn1.git", "1.7.4", "SwiftASN1"),
    ("https://github.com/apple/swift-async-algorithms.git", "1.1.4", "AsyncAlgorithms"),
    ("https://github.com/apple/swift-atomics.git", "1.3.0", "Atomics"),
    ("https://github.com/apple/swift-certificates.git", "1.21.1", "X509"),
    ("https://github.com/apple/swift-collections", "1.6.0", "DequeModule"),
    ("https://github.com/apple/swift-configuration.git", "1.4.0", "Configuration"),
    ("https://github.com/apple/swift-crypto.git", "4.5.2", "Crypto"),
    ("https://github.com/swift-extras/swift-extras-base64", "1.2.0", "ExtrasBase64"),
    ("https://github.com/apple/swift-nio-extras.git", "1.35.2", "NIOExtras"),
    ("https://github.com/apple/swift-nio-http2.git", "1.46.0", "NIOHTTP2"),
    ("https://github.com/apple/swift-nio-ssl.git", "2.37.6", "NIOSSL"),
    ("https://github.com/apple/swift-nio-transport-services.git", "1.28.0", "NIOTransportServices"),
    ("https://github.com/apple/swift-numerics.git", "1.1.1", "RealModule"),
    ("https://github.com/apple/swift-service-context.git", "1.5.1", "ServiceContextModule"),
    ("https://github.com/apple/swift-system", "1.8.1", "SystemPackage"),
    ("https://github.com/apple/swift-protobuf.git", "1.39.0", "SwiftProtobuf"),
    ("https://github.com/swift-otel/swift-w3c-trace-context.git", "1.0.0", "W3CTraceContext"),
    ("https://github.com/vapor/websocket-kit.git", "2.16.2", "WebSocketKit"),
]

let package = Package(
    name: "ticketing",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ticketing", targets: ["ticketing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", exact: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", exact: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", exact: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", exact: "2.14.0"),
        .package(url: "https://github.com/vapor/jwt.git", exact: "5.2.0"),
        .package(url: "https://github.com/vapor/leaf.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/vapor/fluent-kit.git", exact: "1.57.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", exact: "3.36.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
        // Only the OTLP/HTTP exporter: the gRPC one would add gRPC and HTTP/2 to every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
    ] + transitive.map { .package(url: $0.url, exact: $0.version) },
    targets: [
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .systemLibrary(
            name: "CQRencode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
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
            name: "TicketingEvents",
            dependencies: [
                "JetStream",
                .product(name: "FluentKit", package: "fluent-kit"),
                .product(name: "FluentSQL", package: "fluent-kit"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TicketingCore",
            dependencies: [
                "TicketingEvents",
                "JetStream",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "JWT", package: "jwt"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Auth", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(
            name: "Tickets",
            dependencies: ["TicketingCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Orders", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Expiration", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(name: "Payments", dependencies: ["TicketingCore"], swiftSettings: swiftSettings),
        .target(
            name: "Web",
            dependencies: ["TicketingCore", "CQRencode", .product(name: "Leaf", package: "leaf"), .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ticketing",
            dependencies: [
                "TicketingCore",
                "JetStream",
                "Auth",
                "Tickets",
                "Orders",
                "Expiration",
                "Payments",
                "Web",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ] + transitive.map { .product(name: $0.product, package: packageName($0.url)) },
            swiftSettings: swiftSettings,
            linkerSettings: residentLinking
        ),
        .executableTarget(
            name: "bench-events",
            dependencies: ["TicketingCore", "JetStream", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bench-load",
            dependencies: ["JetStream", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TicketingTesting",
            dependencies: [
                "TicketingCore", "JetStream", .product(name: "XCTVapor", package: "vapor"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
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
            dependencies: ["Tickets", "TicketingTesting", "JetStream", .product(name: "Crypto", package: "swift-crypto")],
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
            name: "TracingTests",
            dependencies: [
                "Orders", "Tickets", "TicketingTesting", "JetStream",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: ["Auth", "TicketingTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)

/// A package's name in `.product(package:)`: the last part of its URL, without `.git`.
func packageName(_ url: String) -> String {
    let last = url.split(separator: "/").last.map(String.init) ?? url
    return last.hasSuffix(".git") ? String(last.dropLast(4)) : last
}
