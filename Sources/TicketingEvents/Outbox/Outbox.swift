import Foundation
import FluentKit

import SQLKit

/// The transactional outbox: an event is a row written in the same transaction as the change it announces,
/// and the relay publishes it after the commit. If the process dies in between, the row is still there.
/// Events are recorded through `UnitOfWork.Transaction.record`, never here directly.
enum Outbox {
    /// Inserts several events of one kind with one statement.
    static func insert<E: Event>(_ events: [E], on db: any Database) async throws {
        let now = Date()
        let rows = try events.map { event in
            SQLGroupExpression([
                SQLBind(UUID().uuidString.lowercased()), SQLBind(E.subject.rawValue),
                SQLBind(String(decoding: try event.encoded(), as: UTF8.self)), SQLBind(now),
            ])
        }
        try await db.sql.raw("""
            INSERT INTO outbox (event_id, subject, payload, created_at) VALUES \(SQLList(rows))
            """).run()
    }
}

struct CreateOutbox: AsyncMigration {
    /// Recorded under the module these tables were first made in: a new name would make Fluent run it again.
    let name = "TicketingCore.CreateOutbox"

    func prepare(on database: any Database) async throws {
        try await database.schema("outbox")
            .field("seq", .int64, .identifier(auto: true))
            .field("event_id", .string, .required)
            .field("subject", .string, .required)
            .field("payload", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "event_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("outbox").delete()
    }
}

