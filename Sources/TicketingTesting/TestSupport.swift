import Foundation
import TicketingCore
import JWT
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
        ordersPerUser: 1_000_000, activeOrdersPerUser: 1_000_000
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

private struct RolledBack: Error {}

/// Applies one event with `listener` as the service's runner does: in a write transaction whose effects are
/// discarded when the listener answers `.retryLater`.
public func apply<L: Listener>(_ listener: L, _ event: L.Payload, _ app: Application) async throws -> ListenerOutcome {
    do {
        return try await app.writeTransactions.run(on: app.db) { tx in
            let outcome = try await listener.onMessage(event, context: ListenerContext(db: tx, eventID: UUID().uuidString, logger: app.logger))
            if outcome == .retryLater { throw RolledBack() }
            return outcome
        }
    } catch is RolledBack {
        return .retryLater
    }
}
