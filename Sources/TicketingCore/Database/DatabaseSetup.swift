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

extension Database {
    public var sql: any SQLDatabase {
        self as! any SQLDatabase
    }

    /// Ends a `SELECT` that reads rows to change them in the caller's transaction: on PostgreSQL the rows stay locked
    /// until it ends, so concurrent writers take turns; SQLite write transactions already take turns.
    public var lockForUpdate: SQLQueryString {
        sql.dialect.name == "postgresql" ? "FOR UPDATE" : ""
    }

    /// Like `lockForUpdate`, but on PostgreSQL rows another transaction holds are skipped rather than waited for.
    public var lockForUpdateSkippingLocked: SQLQueryString {
        sql.dialect.name == "postgresql" ? "FOR UPDATE SKIP LOCKED" : ""
    }
}

public enum DatabaseErrors {
    /// True for a unique, check or foreign-key violation on either driver: the database refused the write.
    public static func isConstraintViolation(_ error: any Error) -> Bool {
        (error as? any DatabaseError)?.isConstraintFailure ?? false
    }
}
