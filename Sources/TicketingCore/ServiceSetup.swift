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
    /// The web front end has no database of its own and answers errors with pages rather than the JSON envelope.
    public func configureTicketingService(
        _ config: TicketingConfig, database: Bool = true, errors: any Middleware = ContractErrorMiddleware()
    ) async throws {
        TicketingMetrics.bootstrap()
        middleware = .init()
        middleware.use(RequestIDMiddleware())
        middleware.use(RouteLoggingMiddleware(logLevel: .info))
        middleware.use(errors)
        middleware.use(CurrentUserMiddleware())

        await jwt.keys.add(hmac: HMACKey(from: config.jwtKey), digestAlgorithm: .sha256)
        sessionIssuer = SessionIssuer(
            lifetime: TimeInterval(config.sessionLifetimeSeconds),
            secureCookie: config.secureCookies
        )
        passwords.use(.bcrypt(cost: config.bcryptCost))
        // A dependency that cannot be reached should cost a visitor seconds, not the client's default ten per try.
        http.client.configuration.timeout = .init(connect: .seconds(2), read: .seconds(15))
        readinessChecks = []
        try routes.register(collection: HealthController())
        guard database else { return }

        let location = try DatabaseLocation(url: config.databaseURL)
        try useDatabase(location)
        writeTransactions = WriteTransactions(sqlite: location.isSQLite)
        readinessChecks = [.database]
    }

    /// Runs the registered migrations. On SQLite it first switches to write-ahead logging (readers never wait for the
    /// writer) with `synchronous=NORMAL`: a commit no longer waits for an fsync, which is what bounds SQLite's write
    /// rate, and a crashed process still loses nothing; only a power loss can take back the last commits.
    /// PostgreSQL, the production database, keeps its own full durability.
    public func prepareDatabase(_ config: TicketingConfig) async throws {
        if try DatabaseLocation(url: config.databaseURL).isSQLite {
            try await sql.raw("PRAGMA journal_mode=WAL").run()
            // Per-connection settings: the SQLite driver keeps one connection per event loop, so set them on each.
            // A connection reopened after an error falls back to the defaults (FULL, no mapping): slower, never less
            // safe. Mapping the file lets reads skip a system call per page: a connection's own page cache is
            // dropped whenever another connection writes, which in a busy service is all the time.
            for eventLoop in eventLoopGroup.makeIterator() {
                guard let connection = databases.database(logger: logger, on: eventLoop)?.sql else { continue }
                try await connection.raw("PRAGMA synchronous=NORMAL").run()
                try await connection.raw("PRAGMA mmap_size=268435456").run()
            }
        }
        try await autoMigrate()
    }
}
