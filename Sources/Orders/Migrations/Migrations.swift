import SQLKit
import TicketingCore

struct CreateReplicatedTicket: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ReplicatedTicket.schema)
            .field("id", .string, .identifier(auto: false))
            .field("title", .string, .required)
            .field("price_cents", .int64, .required)
            .field("version", .int, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(ReplicatedTicket.schema).delete()
    }
}

struct CreateOrder: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // Status as text (not a database enum) so that SQLite and PostgreSQL share one schema and one index.
        try await database.schema(Order.schema)
            .id()
            .field("user_id", .string, .required)
            .field("status", .string, .required)
            .field("expires_at", .datetime, .required)
            .field("ticket_id", .string, .required)
            .field("version", .int, .required)
            .field("created_at", .datetime, .required)
            .create()
        // The invariant "at most one active order per ticket" lives here, in the database: of any number of
        // simultaneous inserts for one ticket, on any number of replicas, exactly one can commit.
        try await database.sql.raw("""
            CREATE UNIQUE INDEX orders_one_active_per_ticket ON orders (ticket_id) WHERE status <> 'cancelled'
            """).run()
        try await database.sql.raw("CREATE INDEX orders_by_user ON orders (user_id, created_at)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Order.schema).delete()
    }
}

/// The price an order was made at, kept on the order (it used to be read from the replica, which follows the
/// seller's later edits). Orders made before take their ticket's current price, the best record there is.
struct AddOrderPrice: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Order.schema).field("price_cents", .int64).update()
        try await database.sql.raw("""
            UPDATE orders SET price_cents = COALESCE((SELECT price_cents FROM tickets WHERE tickets.id = orders.ticket_id), 0)
            WHERE price_cents IS NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Order.schema).deleteField("price_cents").update()
    }
}

/// Who listed each ticket, so a seller cannot order their own.
struct AddReplicatedTicketSeller: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ReplicatedTicket.schema).field("user_id", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(ReplicatedTicket.schema).deleteField("user_id").update()
    }
}

/// Resale (CONTRACT.md section 7): which ticket a listing resells, which order holds a ticket and who, whether it
/// was withdrawn; and on orders, when a resale's payment arrived.
struct AddReplicatedTicketResale: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(ReplicatedTicket.schema).field("resale_of", .string).update()
        try await database.schema(ReplicatedTicket.schema).field("order_id", .string).update()
        try await database.schema(ReplicatedTicket.schema).field("holder_id", .string).update()
        try await database.schema(ReplicatedTicket.schema).field("withdrawn", .bool, .required, .sql(.default(false))).update()
        try await database.schema(Order.schema).field("paid_at", .datetime).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Order.schema).deleteField("paid_at").update()
        for column in ["resale_of", "order_id", "holder_id", "withdrawn"] {
            try await database.schema(ReplicatedTicket.schema).deleteField(.key(.init(stringLiteral: column))).update()
        }
    }
}
