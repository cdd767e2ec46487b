import Foundation
import SQLKit
import TicketingCore

/// The pending expiries: one row per order, due at its `expiresAt`, kept in the service's own database so that
/// none is lost when the service, the broker or the machine restarts. Times are epoch milliseconds, which both
/// SQLite and PostgreSQL compare as plain integers.
enum Schedule {
    static func add(orderId: String, due: Date, on db: any Database) async throws {
        // Rounded up: an expiry may be a fraction of a millisecond late, never early.
        let dueMilliseconds = Int64((due.timeIntervalSince1970 * 1_000).rounded(.up))
        try await db.sql.raw("""
            INSERT INTO expirations (order_id, due_ms) VALUES (\(bind: orderId), \(bind: dueMilliseconds))
            ON CONFLICT (order_id) DO NOTHING
            """).run()
    }

    /// Removes up to `limit` expiries due by `now` and returns them, in the caller's transaction. On PostgreSQL rows
    /// another replica is claiming are skipped rather than waited for, so replicas share a burst and never both
    /// take one row; on SQLite write transactions already take turns.
    static func claimDue(by now: Date, limit: Int, on db: any Database) async throws -> [(orderId: String, due: Date)] {
        let rows = try await db.sql.raw("""
            DELETE FROM expirations WHERE order_id IN (
                SELECT order_id FROM expirations WHERE due_ms <= \(bind: now.epochMilliseconds)
                ORDER BY due_ms LIMIT \(unsafeRaw: String(limit)) \(db.lockForUpdateSkippingLocked)
            ) RETURNING order_id, due_ms
            """).all()
        return try rows.map { row in
            (try row.decode(column: "order_id", as: String.self),
             Date(epochMilliseconds: try row.decode(column: "due_ms", as: Int64.self)))
        }
    }

    static func nextDue(on db: any Database) async throws -> Date? {
        try await db.sql.raw("SELECT MIN(due_ms) AS due FROM expirations").first()?
            .decode(column: "due", as: Int64?.self).map(Date.init(epochMilliseconds:))
    }

    static func pendingCount(on db: any Database) async throws -> Int {
        try await db.sql.raw("SELECT COUNT(*) AS pending FROM expirations").first()?.decode(column: "pending", as: Int.self) ?? 0
    }
}

struct CreateSchedule: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("expirations")
            .field("order_id", .string, .identifier(auto: false))
            .field("due_ms", .int64, .required)
            .create()
        try await database.sql.raw("CREATE INDEX expirations_by_due ON expirations (due_ms)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("expirations").delete()
    }
}
