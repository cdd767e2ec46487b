import FluentKit
import SQLKit
import Synchronization
import Vapor

/// Sessions that were signed out before their token expired. A token stays valid by its signature until `exp`,
/// so sign-out has to be told to every service: the auth service records it in its database and publishes
/// `session:revoked` in the same transaction (the outbox), each service with signed-in routes keeps the event in its
/// own `revoked_sessions` table, and every replica reads new rows from there every second into memory, which the
/// session middleware consults on every request. So a signed-out token is refused everywhere within about two
/// seconds while the event bus is up; while it is down, as soon as it is back (the event waits in the outbox).
public final class SessionRevocations: Sendable {
    private let revoked = Mutex<[String: Int64]>([:])

    public init() {}

    public func contains(_ session: String) -> Bool {
        revoked.withLock { $0[session] != nil }
    }

    public func insert(_ session: String, expiresAtMs: Int64) {
        revoked.withLock { $0[session] = expiresAtMs }
    }

    var count: Int { revoked.withLock { $0.count } }

    /// Forgets sessions whose tokens have expired anyway.
    func forget(expiredBefore nowMs: Int64) {
        revoked.withLock { $0 = $0.filter { $0.value > nowMs } }
    }

    /// Records a revocation in this service's database; true when it was new. Call inside a write transaction.
    @discardableResult
    public static func record(_ event: SessionRevokedEvent, on db: any Database) async throws -> Bool {
        let expires = ISOTimestamp.date(event.expiresAt)?.epochMilliseconds ?? Date().addingTimeInterval(365 * 86_400).epochMilliseconds
        return try await db.sql.raw("""
            INSERT INTO revoked_sessions (session_id, expires_at_ms, recorded_at_ms)
            VALUES (\(bind: event.sessionId), \(bind: expires), \(bind: Date().epochMilliseconds))
            ON CONFLICT (session_id) DO NOTHING RETURNING session_id
            """).first() != nil
    }

    /// Reads what other replicas (and the listener) recorded into memory, every `interval` seconds, until cancelled.
    /// Rows are read again for a while after the last one seen, so a commit that lands late, or a replica whose
    /// clock is behind, is not missed; expired sessions are forgotten, in memory and in the table.
    /// The pruning is a write, so it takes its turn with the service's other writers (`writes`): on SQLite a second
    /// writer would otherwise wait in SQLite's busy handler on one of the few threads every statement needs.
    func refreshRegularly(db: @escaping @Sendable () -> any Database, writes: UnitOfWork, logger: Logger, interval: Double = 1) async {
        var seenUntil: Int64 = 0
        var lastPruned = Date.distantPast
        await repeatEvery(interval, logger: logger, failure: "reading revoked sessions failed") {
            let rows = try await db().sql.raw("""
                SELECT session_id, expires_at_ms, recorded_at_ms FROM revoked_sessions WHERE recorded_at_ms > \(bind: seenUntil - 30_000)
                """).all()
            for row in rows {
                insert(try row.decode(column: "session_id", as: String.self), expiresAtMs: try row.decode(column: "expires_at_ms", as: Int64.self))
                seenUntil = max(seenUntil, try row.decode(column: "recorded_at_ms", as: Int64.self))
            }
            if lastPruned.timeIntervalSinceNow < -3_600 {
                let now = Date().epochMilliseconds
                forget(expiredBefore: now)
                try await writes.statement(on: db()) { db in
                    try await db.sql.raw("DELETE FROM revoked_sessions WHERE expires_at_ms < \(bind: now)").run()
                }
                lastPruned = Date()
            }
        }
    }
}

/// `session:revoked` kept in this service's own table, for its replicas to read.
public struct SessionRevokedListener: Listener {
    public let queueGroup: String

    public init(queueGroup: String) {
        self.queueGroup = queueGroup
    }

    public func onMessage(_ event: SessionRevokedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        try await SessionRevocations.record(event, on: context.db)
        return .done
    }
}

public struct CreateRevokedSessions: AsyncMigration {
    public init() {}

    public func prepare(on database: any Database) async throws {
        try await database.schema("revoked_sessions")
            .field("session_id", .string, .identifier(auto: false))
            .field("expires_at_ms", .int64, .required)
            .field("recorded_at_ms", .int64, .required)
            .create()
        try await database.sql.raw("CREATE INDEX revoked_sessions_by_time ON revoked_sessions (recorded_at_ms)").run()
    }

    public func revert(on database: any Database) async throws {
        try await database.schema("revoked_sessions").delete()
    }
}

extension Application {
    private struct SessionRevocationsKey: StorageKey {
        typealias Value = SessionRevocations
    }

    /// The sessions this process knows to be signed out; empty in a service without `useSessionRevocations`.
    public var sessionRevocations: SessionRevocations {
        if let existing = storage[SessionRevocationsKey.self] { return existing }
        let created = SessionRevocations()
        storage[SessionRevocationsKey.self] = created
        return created
    }
}
