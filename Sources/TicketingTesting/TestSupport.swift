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

    public static func config(service: String, secureCookies: Bool = false) -> TicketingConfig {
        TicketingConfig(
            service: service,
            dataDirectory: NSTemporaryDirectory(),
            jwtKey: jwtKey,
            databaseURL: databaseURL,
            secureCookies: secureCookies,
            bcryptCost: 4
        )
    }

    /// Builds an app with `configure`, starting from empty tables, runs `body`, and always shuts the app down.
    public static func withApp(
        service: String,
        config: TicketingConfig? = nil,
        configure: (Application, TicketingConfig) async throws -> Void,
        _ body: (Application) async throws -> Void
    ) async throws {
        let app = try await Application.make(.testing)
        do {
            let config = config ?? Self.config(service: service)
            try await configure(app, config)
            if isPostgres {
                // One database serves every test of the PostgreSQL run; rebuild its tables for a clean start.
                try await app.autoRevert()
                try await app.autoMigrate()
            }
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
