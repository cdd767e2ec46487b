import FluentKit
import SQLKit

extension Database {
    public var sql: any SQLDatabase {
        self as! any SQLDatabase
    }

    /// Ends a `SELECT` that reads rows to change them in the caller's transaction: on PostgreSQL the rows stay locked
    /// until it ends, so concurrent writers take turns; SQLite write transactions already take turns.
    public var lockForUpdate: SQLQueryString {
        sql.dialect.name == "postgresql" ? "FOR UPDATE" : ""
    }

    /// Ends a `SELECT` that reads rows another transaction must not change before the caller's commits: on
    /// PostgreSQL a shared lock (readers do not wait for each other, writers wait for them).
    public var lockForShare: SQLQueryString {
        sql.dialect.name == "postgresql" ? "FOR SHARE" : ""
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
