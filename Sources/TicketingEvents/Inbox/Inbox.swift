import FluentKit

import Foundation
import JetStream
import SQLKit

/// Which events this service has applied (so a redelivery changes nothing), and which it gave up on.
public enum Inbox {
    /// Records the events as applied in the caller's transaction; returns the ids that were not recorded before.
    static func claim(_ eventIDs: [String], subject: Subject, on db: any Database) async throws -> Set<String> {
        let now = Date()
        let rows = SQLList(Set(eventIDs).map { SQLGroupExpression([SQLBind($0), SQLBind(subject.rawValue), SQLBind(now)]) })
        return try await Set(db.sql.raw("""
            INSERT INTO inbox (event_id, subject, received_at) VALUES \(rows)
            ON CONFLICT (event_id) DO NOTHING RETURNING event_id
            """).all().map { try $0.decode(column: "event_id", as: String.self) })
    }

    /// How long an applied event's id is kept. A redelivery is only possible while the event is in the stream, which
    /// drops events after its maximum age; a day more covers clock differences and a listener that was stopped.
    public static let retention = TimeInterval(StreamConfiguration(name: JetStreamBus.streamName, subjects: []).maxAgeSeconds) + 86_400

    /// Forgets applied events recorded before `cutoff`, `chunk` rows per statement so other writers get their turn in
    /// between; returns how many it forgot.
    @discardableResult
    public static func prune(before cutoff: Date, on db: any Database, transactions: WriteTransactions, chunk: Int = 1_000) async throws -> Int {
        var forgotten = 0
        while !Task.isCancelled {
            let deleted = try await transactions.runStatement(on: db) { db in
                try await db.sql.raw("""
                    DELETE FROM inbox WHERE event_id IN (
                        SELECT event_id FROM inbox WHERE received_at < \(bind: cutoff) LIMIT \(unsafeRaw: String(chunk))
                    ) RETURNING event_id
                    """).all().count
            }
            forgotten += deleted
            if deleted < chunk { break }
        }
        // The tries of events since applied or parked; one that still fails gets its count anew, which only delays it.
        try await transactions.runStatement(on: db) { db in
            try await db.sql.raw("DELETE FROM event_attempts WHERE updated_at < \(bind: cutoff)").run()
        }
        return forgotten
    }

    /// Prunes what has outlived `retention` now and then every `interval` seconds, until the task is cancelled.
    static func pruneRegularly(db: @escaping @Sendable () -> any Database, transactions: WriteTransactions, logger: Logger,
                               interval: Double = 3_600) async {
        await repeatEvery(interval, logger: logger, failure: "pruning the inbox failed; will retry") {
            let forgotten = try await prune(before: Date().addingTimeInterval(-retention), on: db(), transactions: transactions)
            if forgotten > 0 { logger.info("forgot applied events past the stream's retention", metadata: ["count": "\(forgotten)"]) }
        }
    }

    static func deadLetter(
        _ eventID: String, subject: Subject, payload: Data, error: String, deliveries: Int, entity: EventEntity?, on db: any Database
    ) async throws {
        try await db.sql.raw("""
            INSERT INTO dead_letters (event_id, subject, payload, error, deliveries, entity, version, created_at)
            VALUES (\(bind: eventID), \(bind: subject.rawValue), \(bind: String(decoding: payload, as: UTF8.self)),
                    \(bind: String(error.prefix(4_000))), \(bind: deliveries), \(bind: entity?.name), \(bind: entity?.version),
                    \(bind: Date()))
            ON CONFLICT (event_id) DO NOTHING
            """).run()
    }

    /// Whether an event of the entity that comes before this one is parked (for an unversioned event or a parked one
    /// without a version: any). A replayed event's row is deleted, so it holds nothing up afterwards.
    static func hasParked(before entity: EventEntity, on db: any Database) async throws -> Bool {
        let earlier: SQLQueryString = entity.version.map { "AND (version IS NULL OR version < \(bind: $0))" } ?? ""
        return try await db.sql.raw("SELECT 1 AS parked FROM dead_letters WHERE entity = \(bind: entity.name) \(earlier) LIMIT 1")
            .first() != nil
    }

    /// How many events of each of the subjects are parked, in one query.
    static func parkedCounts(of subjects: [Subject], on db: any Database) async throws -> [Subject: Int] {
        guard !subjects.isEmpty else { return [:] }
        var counts = Dictionary(uniqueKeysWithValues: subjects.map { ($0, 0) })
        for row in try await db.sql.raw("""
            SELECT subject, COUNT(*) AS parked FROM dead_letters WHERE subject IN (\(binds: subjects.map(\.rawValue))) GROUP BY subject
            """).all() {
            if let subject = Subject(rawValue: try row.decode(column: "subject", as: String.self)) {
                counts[subject] = try row.decode(column: "parked", as: Int.self)
            }
        }
        return counts
    }

    /// Counts one more failed (or early) try of the event; returns the tries so far of that kind.
    static func countTry(_ eventID: String, subject: Subject, early: Bool, on db: any Database) async throws -> Int {
        let column = early ? "early" : "failures"
        return try await db.sql.raw("""
            INSERT INTO event_attempts (event_id, subject, failures, early, updated_at)
            VALUES (\(bind: eventID), \(bind: subject.rawValue), \(bind: early ? 0 : 1), \(bind: early ? 1 : 0), \(bind: Date()))
            ON CONFLICT (event_id) DO UPDATE SET \(ident: column) = event_attempts.\(ident: column) + 1, updated_at = excluded.updated_at
            RETURNING \(ident: column) AS tries
            """).first()?.decode(column: "tries", as: Int.self) ?? 1
    }

    /// The parked events, newest first, for operators (and tests).
    public static func deadLetters(on db: any Database) async throws -> [DeadLetter] {
        try await db.sql.raw("SELECT \(DeadLetter.columns) FROM dead_letters ORDER BY created_at DESC, event_id DESC")
            .all(decoding: DeadLetter.self)
    }

    static func deadLetter(_ eventID: String, on db: any Database) async throws -> DeadLetter? {
        try await db.sql.raw("SELECT \(DeadLetter.columns) FROM dead_letters WHERE event_id = \(bind: eventID)")
            .first(decoding: DeadLetter.self)
    }

    /// Removes a parked event and its count of tries (replayed, or discarded by a person).
    static func forgetParked(_ eventID: String, on db: any Database) async throws {
        try await db.sql.raw("DELETE FROM dead_letters WHERE event_id = \(bind: eventID)").run()
        try await db.sql.raw("DELETE FROM event_attempts WHERE event_id = \(bind: eventID)").run()
    }
}

/// A parked event as its row keeps it: the entity (`order <id>`) and version it would have changed, when known.
public struct DeadLetter: Codable, Sendable, Equatable {
    public var event_id: String
    public var subject: String
    public var payload: String
    public var error: String
    public var deliveries: Int
    public var entity: String?
    public var version: Int?
    public var created_at: Date

    static let columns: SQLQueryString = "event_id, subject, payload, error, deliveries, entity, version, created_at"
}

struct CreateInbox: AsyncMigration {
    /// Recorded under the module these tables were first made in: a new name would make Fluent run it again.
    let name = "TicketingCore.CreateInbox"

    func prepare(on database: any Database) async throws {
        try await database.schema("inbox")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("received_at", .datetime, .required)
            .create()
        try await database.schema("dead_letters")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("payload", .string, .required)
            .field("error", .string, .required)
            .field("deliveries", .int, .required)
            .field("created_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("dead_letters").delete()
        try await database.schema("inbox").delete()
    }
}

/// Each event's own count of failed and early tries, and the entity a parked event names.
struct CountEventTries: AsyncMigration {
    /// Recorded under the module these tables were first made in: a new name would make Fluent run it again.
    let name = "TicketingCore.CountEventTries"

    func prepare(on database: any Database) async throws {
        try await database.schema("event_attempts")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("failures", .int, .required)
            .field("early", .int, .required)
            .field("updated_at", .datetime, .required)
            .create()
        // One column per statement: SQLite adds (and drops) them one at a time.
        try await database.schema("dead_letters").field("entity", .string).update()
        try await database.schema("dead_letters").field("version", .int).update()
        try await database.sql.create(index: "dead_letters_entity").on("dead_letters").column("entity").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.drop(index: "dead_letters_entity").run()
        try await database.schema("dead_letters").deleteField("version").update()
        try await database.schema("dead_letters").deleteField("entity").update()
        try await database.schema("event_attempts").delete()
    }
}

/// Lets the inbox be pruned by age without reading all of it.
struct IndexInboxByAge: AsyncMigration {
    /// Recorded under the module these tables were first made in: a new name would make Fluent run it again.
    let name = "TicketingCore.IndexInboxByAge"

    func prepare(on database: any Database) async throws {
        try await database.sql.create(index: "inbox_received_at").on("inbox").column("received_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.drop(index: "inbox_received_at").run()
    }
}
