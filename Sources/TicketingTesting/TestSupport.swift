import Foundation
import JWT
import ServiceLifecycle
import Synchronization
import TicketingCore
import XCTVapor

/// Shared by every service's tests: one way to build a configured app, one way to sign a user in.
public enum TestSupport {
    /// In-memory SQLite, unless the test script's PostgreSQL run names a database in `TEST_DATABASE_URL`.
    public static var databaseURL: String {
        ProcessInfo.processInfo.environment["TEST_DATABASE_URL"] ?? "sqlite::memory:"
    }

    public static var isPostgres: Bool {
        databaseURL.hasPrefix("postgres")
    }

    public static let jwtKey = "test-only-jwt-key-0123456789abcdef"

    /// Limits no ordinary test reaches, as a test suite that signs up and orders a lot sets them (CONTRACT.md section 6);
    /// tests of the limits themselves pass their own.
    public static let generousLimits = AbuseLimits(
        signInFailuresPerEmail: 1_000_000, signInFailuresPerAddress: 1_000_000, signUpsPerAddress: 1_000_000,
        ordersPerUser: 1_000_000, activeOrdersPerUser: 1_000_000, verificationsPerAddress: 1_000_000
    )

    public static func config(service: String, secureCookies: Bool = false, limits: AbuseLimits = generousLimits) -> TicketingConfig {
        TicketingConfig(
            service: service,
            dataDirectory: NSTemporaryDirectory(),
            jwtKey: jwtKey,
            databaseURL: databaseURL,
            secureCookies: secureCookies,
            bcryptCost: 4,
            limits: limits
        )
    }

    /// One database serves every test of the PostgreSQL run, and services share table names (each has its own
    /// `tickets`, `outbox`, …), so every test starts from an empty schema.
    public static func resetPostgres() async throws {
        let admin = try await Application.make(.testing)
        do {
            try admin.useDatabase(DatabaseLocation(url: databaseURL))
            try await admin.sql.raw("DROP SCHEMA public CASCADE").run()
            try await admin.sql.raw("CREATE SCHEMA public").run()
        } catch {
            try? await admin.asyncShutdown()
            throw error
        }
        try await admin.asyncShutdown()
    }

    /// Builds an app with `configure`, starting from empty tables unless `keepingDatabase` (a restart), runs `body`,
    /// and always shuts the app down.
    public static func withApp(
        service: String,
        config: TicketingConfig? = nil,
        keepingDatabase: Bool = false,
        configure: (Application, TicketingConfig) async throws -> Void,
        _ body: (Application) async throws -> Void
    ) async throws {
        let config = config ?? Self.config(service: service)
        if !keepingDatabase, isPostgres, config.databaseURL == databaseURL { try await resetPostgres() }
        let app = try await Application.make(.testing)
        do {
            try await configure(app, config)
            try await body(app)
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}

extension XCTHTTPResponse {
    /// The `session` cookie's `name=value` pair from `Set-Cookie`, ready to send back in a `Cookie` header.
    public var sessionCookie: String? {
        headers[.setCookie]
            .first { $0.hasPrefix(SessionCookie.name + "=") }?
            .split(separator: ";").first.map(String.init)
    }

    public var errorEnvelope: ErrorEnvelope? {
        try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(buffer: body))
    }
}

extension HTTPHeaders {
    public static func json(cookie: String? = nil) -> HTTPHeaders {
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        if let cookie { headers.add(name: .cookie, value: cookie) }
        return headers
    }
}

/// A session cookie for a user that need not exist anywhere: every service trusts the signed token alone.
public func sessionCookie(
    id: String = UUID().uuidString.lowercased(),
    email: String = "test@test.com",
    key: String = TestSupport.jwtKey,
    lifetime: TimeInterval = 3600,
    issuedAt: Date = Date()
) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
    let jwt = try await keys.sign(SessionToken(id: id, email: email, issuedAt: issuedAt, lifetime: lifetime))
    return "\(SessionCookie.name)=\(SessionCookie.encode(jwt: jwt))"
}

/// JSON requests as a signed-in user, with the session cookie every service trusts.
public struct TestClient: Sendable {
    public let app: Application
    public let cookie: String?
    public let userId: String

    public static func signedIn(_ app: Application, id: String = UUID().uuidString.lowercased()) async throws -> TestClient {
        TestClient(app: app, cookie: try await sessionCookie(id: id, email: "\(id.prefix(8))@example.com"), userId: id)
    }

    public static func signedOut(_ app: Application) -> TestClient {
        TestClient(app: app, cookie: nil, userId: "")
    }

    public func send(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> XCTHTTPResponse {
        try await app.testable().sendRequest(
            method, path, headers: .json(cookie: cookie), body: json.map { ByteBuffer(string: $0) }
        )
    }
}

extension XCTHTTPResponse {
    /// The body as a JSON object (or array), for assertions on exact fields.
    public var json: Any? {
        try? JSONSerialization.jsonObject(with: Data(buffer: body), options: [.fragmentsAllowed])
    }

    public var object: [String: Any] { json as? [String: Any] ?? [:] }
}

/// Runs `body` with a fresh `InMemoryBus` app configured by `configure`, booted so its relay and listeners run.
public func withServiceApp(
    _ service: String,
    configure: @escaping (Application, TicketingConfig, any EventBus) async throws -> Void,
    _ body: (Application, InMemoryBus) async throws -> Void
) async throws {
    let bus = InMemoryBus()
    try await TestSupport.withApp(service: service, configure: { app, config in
        try await configure(app, config, bus)
    }) { app in
        try await app.asyncBoot()
        try await body(app, bus)
    }
}

/// Polls until `condition` holds, failing after `timeout` seconds.
public func eventually(
    timeout: Double = 5, file: StaticString = #filePath, line: UInt = #line, _ condition: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    XCTFail("condition not met within \(timeout) s", file: file, line: line)
}

extension InMemoryBus {
    /// The published events of one subject, decoded.
    public func events<E: Event>(_ type: E.Type) -> [E] {
        published.filter { $0.subject == E.subject.rawValue }.compactMap { try? JSONDecoder().decode(E.self, from: $0.data) }
    }
}

/// `XCTAssertEqual` for an expression that awaits (XCTest's autoclosures cannot).
public func assertEqual<T: Equatable>(
    _ expression: @autoclosure () async throws -> T, _ expected: T, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) async rethrows {
    let actual = try await expression()
    XCTAssertEqual(actual, expected, message, file: file, line: line)
}

/// Applies one event with `listener` as the service's runner does (see `Listener.apply`).
public func apply<L: Listener>(_ listener: L, _ event: L.Payload, _ app: Application) async throws -> ListenerOutcome {
    try await listener.apply(event, unitOfWork: app.unitOfWork, db: app.db, logger: app.logger)
}

extension Application {
    /// Wires `service` as `ticketing serve --migrate` does, on `bus` (JetStream at `NATS_URL` when nil); its
    /// background services start when the app boots and stop gracefully when it shuts down, as in a running service.
    public func wireForTesting(
        _ service: ServiceDefinition, _ config: TicketingConfig, bus: (any EventBus)?, tuning: EventTuning = EventTuning(),
        migrate: Bool = true
    ) async throws {
        let work = try await wire(service, config, migrate: migrate, bus: bus, tuning: tuning)
        lifecycle.use(BackgroundServices(services: work, logger: logger))
    }

    /// The service's unit of work; only a service wired with a database has one.
    public var unitOfWork: UnitOfWork {
        guard let events else { preconditionFailure("no events: wire a service with a database first") }
        return events.unitOfWork
    }
}

extension ServiceDefinition {
    /// A service with what every service shares (middleware, health routes, a database and its events) and nothing
    /// of its own, for tests that add a route or two.
    public static func plain(_ name: String = "core", migrations: [any Migration] = []) -> ServiceDefinition {
        ServiceDefinition(name: name, defaultPort: 0, routes: [], migrations: migrations) { _ in ServiceParts() }
    }
}

/// Runs a service group for an application's lifetime: started on boot, shut down gracefully on shutdown.
private final class BackgroundServices: LifecycleHandler, Sendable {
    private let group: ServiceGroup
    private let running = Mutex<Task<Void, any Error>?>(nil)

    init(services: [any ServiceLifecycle.Service], logger: Logger) {
        group = ServiceGroup(services: services, logger: logger)
    }

    func didBootAsync(_ application: Application) async throws {
        let group = group
        running.withLock { $0 = Task { try await group.run() } }
    }

    func shutdownAsync(_ application: Application) async {
        guard let task = running.withLock({ task in defer { task = nil }; return task }) else { return }
        await group.triggerGracefulShutdown()
        try? await task.value
    }
}

extension EventTuning {
    /// A relay that polls once a minute: an event a test sees published within a second went out because the commit
    /// that recorded it woke the relay, whichever path wrote it.
    public static let wakeOnly = EventTuning(relayPollInterval: 60)
}

/// Runs `write` and returns the seconds until `bus` has published one more event of `type` than before; fails after
/// `limit` seconds.
public func secondsToPublish<E: Event>(
    _ type: E.Type, on bus: InMemoryBus, limit: Double = 2, file: StaticString = #filePath, line: UInt = #line,
    _ write: () async throws -> Void
) async throws -> Double {
    let before = bus.events(type).count
    let start = ContinuousClock.now
    try await write()
    try await eventually(timeout: limit, file: file, line: line) { bus.events(type).count > before }
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
