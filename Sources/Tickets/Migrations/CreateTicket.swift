import SQLKit
import TicketingCore

struct CreateTicket: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Ticket.schema)
            .id()
            .field("title", .string, .required)
            .field("price_cents", .int64, .required)
            .field("user_id", .string, .required)
            .field("version", .int, .required)
            .field("order_id", .string)
            .field("created_at", .datetime, .required)
            .create()
        // The listing reads tickets for sale oldest first; the partial index holds exactly those rows, in that order.
        try await database.sql.raw("""
            CREATE INDEX tickets_for_sale ON tickets (created_at, id) WHERE order_id IS NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Ticket.schema).delete()
    }
}

/// What this service knows of each order: the version it last applied, so that order events apply in order.
struct CreateOrderVersion: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("order_versions")
            .field("order_id", .string, .identifier(auto: false))
            .field("version", .int, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("order_versions").delete()
    }
}
