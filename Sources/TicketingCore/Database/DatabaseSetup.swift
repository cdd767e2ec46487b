import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import SQLKit
import Vapor

/// Where a service keeps its data, parsed from `DATABASE_URL`.
public enum DatabaseLocation: Equatable, Sendable {
    case sqliteFile(String)
    case sqliteMemory
    case postgres(String)

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// `sqlite:///abs/path.sqlite`, `sqlite://relative/path.sqlite`, `sqlite::memory:` or `postgres://user:pass@host:port/db`.
    public init(url: String) throws {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            self = .sqliteMemory
        } else if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw Invalid(description: "DATABASE_URL has no SQLite file path") }
            self = .sqliteFile(path)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            self = .postgres(url)
        } else {
            throw Invalid(description: "DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    public var isSQLite: Bool {
        if case .postgres = self { return false }
        return true
    }
}

extension Application {
    /// Registers the service's database. Requests wait at most a few seconds for a connection, so a database
    /// that is down turns into a prompt 503 instead of a hung request.
    public func useDatabase(_ location: DatabaseLocation) throws {
        switch location {
        case .sqliteMemory:
            databases.use(.sqlite(.memory, connectionPoolTimeout: .seconds(5)), as: .sqlite)
        case .sqliteFile(let path):
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            databases.use(.sqlite(.file(path), connectionPoolTimeout: .seconds(5)), as: .sqlite)
        case .postgres(let url):
            var configuration = try SQLPostgresConfiguration(url: url)
            configuration.coreConfiguration.options.connectTimeout = .seconds(3)
            databases.use(
                .postgres(configuration: configuration, maxConnectionsPerEventLoop: 4, connectionPoolTimeout: .seconds(5)),
                as: .psql
            )
        }
    }

    /// The database as SQLKit, for the few statements Fluent's query builder cannot express.
    public var sql: any SQLDatabase {
        // Both drivers in use here are SQL databases.
        db as! any SQLDatabase
    }
}

extension Request {
    public var sql: any SQLDatabase {
        db as! any SQLDatabase
    }
}

extension Application {
    /// On SQLite, switches to write-ahead logging (readers never wait for the writer) with `synchronous=NORMAL`: a
    /// commit no longer waits for an fsync, which is what bounds SQLite's write rate, and a crashed process still loses
    /// nothing; only a power loss can take back the last commits. PostgreSQL, the production database, keeps its own
    /// full durability.
    func tuneDatabase(_ location: DatabaseLocation) async throws {
        if location.isSQLite {
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
    }

    /// Runs the registered migrations. Replicas of a service start together on one PostgreSQL database, so there they
    /// migrate one at a time. A SQLite file belongs to the one process that serves it, so nothing else migrates it
    /// meanwhile.
    func migrate(_ location: DatabaseLocation) async throws {
        try await location.isSQLite ? autoMigrate() : migrateOneAtATime()
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
