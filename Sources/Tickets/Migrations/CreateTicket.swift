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

/// Holding (CONTRACT.md section 7): who ordered the ticket, who holds it since the order was paid, and the serial of
/// their pass. The holder's own list reads held tickets newest first from a partial index.
struct AddHolding: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One column per statement: SQLite adds one at a time.
        try await database.schema(Ticket.schema).field("buyer_id", .string).update()
        try await database.schema(Ticket.schema).field("holder_id", .string).update()
        try await database.schema(Ticket.schema).field("serial", .int, .required, .sql(.default(0))).update()
        try await database.schema(Ticket.schema).field("held_at", .datetime).update()
        try await database.sql.raw("""
            CREATE INDEX tickets_held ON tickets (holder_id, held_at, id) WHERE holder_id IS NOT NULL
            """).run()
        // A payment names its order, not its ticket.
        try await database.sql.raw("CREATE INDEX tickets_by_order ON tickets (order_id) WHERE order_id IS NOT NULL").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX tickets_by_order").run()
        try await database.sql.raw("DROP INDEX tickets_held").run()
        for column in ["buyer_id", "holder_id", "serial", "held_at"] {
            try await database.schema(Ticket.schema).deleteField(.key(.init(stringLiteral: column))).update()
        }
    }
}

/// Check-in (CONTRACT.md section 7): when the door admitted the holder.
struct AddCheckIn: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Ticket.schema).field("checked_in_at", .datetime).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Ticket.schema).deleteField("checked_in_at").update()
    }
}

/// Resale (CONTRACT.md section 7): what a reservation charges, a listing's place in its resale chain, withdrawal and
/// hand-over. One open resale per ticket is a partial unique index: of two simultaneous listings one commits.
struct AddResale: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Ticket.schema).field("paid_cents", .int64).update()
        try await database.schema(Ticket.schema).field("resale_of", .uuid).update()
        try await database.schema(Ticket.schema).field("face_value_cents", .int64).update()
        try await database.schema(Ticket.schema).field("issuer_id", .string).update()
        try await database.schema(Ticket.schema).field("withdrawn_at", .datetime).update()
        try await database.schema(Ticket.schema).field("resold_at", .datetime).update()
        try await database.sql.raw("""
            CREATE UNIQUE INDEX tickets_one_resale ON tickets (resale_of) WHERE resale_of IS NOT NULL AND withdrawn_at IS NULL
            """).run()
        // The listing and the held list leave out what is no longer for sale or no longer held.
        try await database.sql.raw("DROP INDEX tickets_for_sale").run()
        try await database.sql.raw("""
            CREATE INDEX tickets_for_sale ON tickets (created_at, id) WHERE order_id IS NULL AND withdrawn_at IS NULL
            """).run()
        try await database.sql.raw("DROP INDEX tickets_held").run()
        try await database.sql.raw("""
            CREATE INDEX tickets_held ON tickets (holder_id, held_at, id) WHERE holder_id IS NOT NULL AND resold_at IS NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX tickets_held").run()
        try await database.sql.raw("CREATE INDEX tickets_held ON tickets (holder_id, held_at, id) WHERE holder_id IS NOT NULL").run()
        try await database.sql.raw("DROP INDEX tickets_for_sale").run()
        try await database.sql.raw("CREATE INDEX tickets_for_sale ON tickets (created_at, id) WHERE order_id IS NULL").run()
        try await database.sql.raw("DROP INDEX tickets_one_resale").run()
        for column in ["paid_cents", "resale_of", "face_value_cents", "issuer_id", "withdrawn_at", "resold_at"] {
            try await database.schema(Ticket.schema).deleteField(.key(.init(stringLiteral: column))).update()
        }
    }
}

/// Search (`GET /api/tickets?q=…&minPrice=…&sort=…`): the title's words in the database's own full-text index, and the
/// listing for sale by price. SQLite keeps an FTS5 index of the titles, by the tickets' rowid, in step through
/// triggers; PostgreSQL a generated `tsvector` column with a GIN index. Both stem English words (`concerts` finds
/// `Concert`). The tickets' rowids must stay as they are, which they do but for a `VACUUM` (`tickets` has no INTEGER
/// PRIMARY KEY): nothing here runs one, and after one, `INSERT INTO ticket_words (ticket_words) VALUES ('rebuild')`.
struct AddSearch: AsyncMigration {
    func prepare(on database: any Database) async throws {
        let sql = database.sql
        if sql.dialect.name == "postgresql" {
            try await sql.raw("""
                ALTER TABLE tickets ADD COLUMN words tsvector GENERATED ALWAYS AS (to_tsvector('english', title)) STORED
                """).run()
            try await sql.raw("CREATE INDEX tickets_words ON tickets USING gin (words)").run()
        } else {
            try await sql.raw("""
                CREATE VIRTUAL TABLE ticket_words USING fts5(
                    title, content = 'tickets', content_rowid = 'rowid', tokenize = 'porter unicode61 remove_diacritics 2')
                """).run()
            try await sql.raw("""
                CREATE TRIGGER ticket_words_insert AFTER INSERT ON tickets BEGIN
                    INSERT INTO ticket_words (rowid, title) VALUES (new.rowid, new.title);
                END
                """).run()
            try await sql.raw("""
                CREATE TRIGGER ticket_words_delete AFTER DELETE ON tickets BEGIN
                    INSERT INTO ticket_words (ticket_words, rowid, title) VALUES ('delete', old.rowid, old.title);
                END
                """).run()
            try await sql.raw("""
                CREATE TRIGGER ticket_words_update AFTER UPDATE OF title ON tickets BEGIN
                    INSERT INTO ticket_words (ticket_words, rowid, title) VALUES ('delete', old.rowid, old.title);
                    INSERT INTO ticket_words (rowid, title) VALUES (new.rowid, new.title);
                END
                """).run()
            try await sql.raw("INSERT INTO ticket_words (ticket_words) VALUES ('rebuild')").run()
        }
        try await sql.raw("""
            CREATE INDEX tickets_for_sale_by_price ON tickets (price_cents, created_at, id) WHERE order_id IS NULL AND withdrawn_at IS NULL
            """).run()
    }

    func revert(on database: any Database) async throws {
        let sql = database.sql
        try await sql.raw("DROP INDEX tickets_for_sale_by_price").run()
        if sql.dialect.name == "postgresql" {
            try await sql.raw("DROP INDEX tickets_words").run()
            try await sql.raw("ALTER TABLE tickets DROP COLUMN words").run()
        } else {
            for trigger in ["ticket_words_insert", "ticket_words_delete", "ticket_words_update"] {
                try await sql.raw("DROP TRIGGER \(unsafeRaw: trigger)").run()
            }
            try await sql.raw("DROP TABLE ticket_words").run()
        }
    }
}

/// A seller's own listings (`GET /api/tickets/listed`), newest first.
struct AddSellerListings: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.sql.raw("CREATE INDEX tickets_listed ON tickets (user_id, created_at, id) WHERE withdrawn_at IS NULL").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.raw("DROP INDEX tickets_listed").run()
    }
}
