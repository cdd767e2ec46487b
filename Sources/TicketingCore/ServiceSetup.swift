import JWT
import SQLKit
import Vapor

/// Echoes the request id (taken from `X-Request-Id` when the ingress set one) so a client's report can be found in the
/// logs; only an id of the ingress's shape (at most 64 letters, digits and `-`) goes back into a header.
struct RequestIDMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        let id = request.id
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || Validate.isASCIIAlphanumeric($0) }) else {
            return response
        }
        response.headers.replaceOrAdd(name: .xRequestId, value: id)
        return response
    }
}

/// The last word on every response's headers, outside the error middleware so that error answers get it too:
/// `nosniff` (a body is only ever what its content type says), and a refusal of any header value holding CR, LF or
/// NUL. Values from a request are checked where they are used (see the web's `RedirectTarget`); this is the net
/// under that rule, so a value that slipped through becomes a 500 in the log, never a header an attacker wrote.
struct ResponseHeadersMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        var response = try await next.respond(to: request)
        if response.headers.contains(where: { $0.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 } }) {
            request.logger.error("refused a response header holding CR, LF or NUL", metadata: ["path": "\(request.url.path)"])
            response = ContractErrorMiddleware.response(for: .internalFailure)
        }
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        return response
    }
}

extension Application {
    /// What every service shares: middleware (errors, request ids, session), the session key,
    /// the database, password hashing and the health routes. A service's own `configure` calls this first.
    /// The web front end has no database of its own and answers errors with pages rather than the JSON envelope.
    public func configureTicketingService(
        _ config: TicketingConfig, database: Bool = true, errors: any Middleware = ContractErrorMiddleware(),
        outsideErrors: [any Middleware] = []
    ) async throws {
        TicketingMetrics.bootstrap()
        middleware = .init()
        middleware.use(ResponseHeadersMiddleware())
        middleware.use(RequestIDMiddleware())
        middleware.use(RouteLoggingMiddleware(logLevel: .info))
        for outer in outsideErrors { middleware.use(outer) }
        middleware.use(errors)
        middleware.use(CurrentUserMiddleware(revocations: sessionRevocations))

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
    ///
    /// Replicas of a service start together on one PostgreSQL database, so there they migrate one at a time. A SQLite
    /// file belongs to the one process that serves it, so nothing else migrates it meanwhile.
    public func prepareDatabase(_ config: TicketingConfig) async throws {
        let sqlite = try DatabaseLocation(url: config.databaseURL).isSQLite
        if sqlite {
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
        try await sqlite ? autoMigrate() : migrateOneAtATime()
    }

    /// Any fixed number will do: an advisory lock belongs to one database, and nothing else in ours takes one.
    static let migrationLock: Int64 = 0x7469_636B_6574_696E

    /// Migrates in one transaction that first takes an advisory lock: a replica starting beside another waits there,
    /// then finds the work done instead of racing it to the same `CREATE TABLE`. The lock ends with the transaction,
    /// however that ends, and PostgreSQL's DDL is transactional, so a failed migration leaves nothing half done.
    private func migrateOneAtATime() async throws {
        let migrations = migrations
        let logLevel = fluent.migrationLogLevel
        try await db.transaction { tx in
            try await tx.sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.migrationLock))").run()
            // Every migration of a service is for its one database, so each runs in this transaction.
            let migrator = Migrator(databaseFactory: { _ in tx }, migrations: migrations, on: tx.eventLoop, migrationLogLevel: logLevel)
            try await migrator.setupIfNeeded().flatMap { migrator.prepareBatch() }.get()
        }
    }
}
