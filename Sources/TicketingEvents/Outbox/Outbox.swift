import Foundation
import FluentKit

import SQLKit

/// The transactional outbox: an event is a row written in the same transaction as the change it announces,
/// and the relay publishes it after the commit. If the process dies in between, the row is still there.
/// Events are recorded through `UnitOfWork.Transaction.record`, never here directly.
enum Outbox {
    /// Inserts several events of one kind with one statement, each with the trace headers at the same place in
    /// `traces`, which the relay sends on with it.
    static func insert<E: Event>(_ events: [E], traces: [[String: String]], on db: any Database) async throws {
        let now = Date()
        let rows = try zip(events, traces).map { event, trace in
            SQLGroupExpression([
                SQLBind(UUID().uuidString.lowercased()), SQLBind(E.subject.rawValue),
                SQLBind(String(decoding: try event.encoded(), as: UTF8.self)), SQLBind(now), SQLBind(TraceHeaders.column(trace)),
            ])
        }
        try await db.sql.raw("""
            INSERT INTO outbox (event_id, subject, payload, created_at, trace_context) VALUES \(SQLList(rows))
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

/// The trace context of the change that recorded the event (see `TraceHeaders`), null where nothing traced it.
struct AddOutboxTraceContext: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("outbox").field("trace_context", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("outbox").deleteField("trace_context").update()
    }
}
