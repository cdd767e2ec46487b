import JWT
import SQLKit
import Vapor

/// Echoes the request id (taken from `X-Request-Id` when the ingress set one) so a client's report can be found in the logs.
struct RequestIDMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        response.headers.replaceOrAdd(name: .xRequestId, value: request.id)
        return response
    }
}

extension Application {
    /// What every service shares: middleware (errors, request ids, session), the session key,
    /// the database, password hashing and the health routes. A service's own `configure` calls this first.
    public func configureTicketingService(_ config: TicketingConfig) async throws {
        TicketingMetrics.bootstrap()
        middleware = .init()
        middleware.use(RequestIDMiddleware())
        middleware.use(RouteLoggingMiddleware(logLevel: .info))
        middleware.use(ContractErrorMiddleware())
        middleware.use(CurrentUserMiddleware())

        await jwt.keys.add(hmac: HMACKey(from: config.jwtKey), digestAlgorithm: .sha256)
        sessionIssuer = SessionIssuer(
            lifetime: TimeInterval(config.sessionLifetimeSeconds),
            secureCookie: config.secureCookies
        )
        passwords.use(.bcrypt(cost: config.bcryptCost))

        try useDatabase(DatabaseLocation(url: config.databaseURL))
        readinessChecks = [.database]
        try routes.register(collection: HealthController())
    }

    /// Runs the registered migrations; on SQLite also switches to write-ahead logging so readers never wait for a writer.
    public func prepareDatabase(_ config: TicketingConfig) async throws {
        if try DatabaseLocation(url: config.databaseURL).isSQLite {
            try await sql.raw("PRAGMA journal_mode=WAL").run()
        }
        try await autoMigrate()
    }
}
