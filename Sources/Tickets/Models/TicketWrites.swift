import FluentSQL
import SQLKit
import TicketingCore

/// A change made by another writer between reading a ticket and writing it back.
struct StaleTicket: Error {}

extension Ticket {
    /// Reads a ticket to change it in the caller's transaction. On PostgreSQL the row stays locked until the
    /// transaction ends, so concurrent writers take turns instead of failing their version check; SQLite
    /// transactions are already one at a time.
    static func findForUpdate(_ id: UUID, on db: any Database) async throws -> Ticket? {
        try await findForUpdate(where: "id = \(bind: id)", on: db)
    }

    /// The ticket an order holds (reserved, or bought), read as `findForUpdate(_:on:)` reads it.
    static func findForUpdate(reservedBy orderId: String, on db: any Database) async throws -> Ticket? {
        try await findForUpdate(where: "order_id = \(bind: orderId)", on: db)
    }

    /// The ticket an order holds, and the ticket it resells if it is a resale listing, both read for update.
    ///
    /// The resold ticket is locked first. Every transaction that changes both (a hand-over, its undoing, a check-in
    /// that withdraws the holder's listing) takes them in that order, so on PostgreSQL none waits on another's lock
    /// while holding the one it needs.
    static func findForUpdateWithResold(reservedBy orderId: String, on db: any Database) async throws -> (ticket: Ticket?, resold: Ticket?) {
        try await findForUpdateWithResold(where: "order_id = \(bind: orderId)", on: db)
    }

    /// As `findForUpdateWithResold(reservedBy:on:)`, for the ticket by its id.
    static func findForUpdateWithResold(_ id: UUID, on db: any Database) async throws -> (ticket: Ticket?, resold: Ticket?) {
        try await findForUpdateWithResold(where: "id = \(bind: id)", on: db)
    }

    private static func findForUpdateWithResold(where condition: SQLQueryString, on db: any Database) async throws -> (ticket: Ticket?, resold: Ticket?) {
        // Which ticket it resells never changes once listed, so this unlocked read cannot go stale.
        let resaleOf = try await db.sql.raw("SELECT resale_of FROM tickets WHERE \(condition)").first()?
            .decode(column: "resale_of", as: UUID?.self)
        var resold: Ticket?
        if let resaleOf { resold = try await findForUpdate(resaleOf, on: db) }
        return (try await findForUpdate(where: condition, on: db), resold)
    }

    private static func findForUpdate(where condition: SQLQueryString, on db: any Database) async throws -> Ticket? {
        guard let row = try await db.sql.raw("""
            SELECT id, title, price_cents, user_id, version, order_id, buyer_id, holder_id, serial, held_at, checked_in_at,
                   paid_cents, resale_of, face_value_cents, issuer_id, withdrawn_at, resold_at, created_at
            FROM tickets WHERE \(condition) \(db.lockForUpdate)
            """).first()
        else { return nil }
        // Decoded by hand: this runs for every reservation and release, and Fluent's generic decoding costs more.
        let ticket = Ticket(
            id: try row.decode(column: "id", as: UUID.self), title: try row.decode(column: "title", as: String.self),
            price: Money(cents: try row.decode(column: "price_cents", as: Int64.self)),
            userId: try row.decode(column: "user_id", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self)
        )
        ticket.version = try row.decode(column: "version", as: Int.self)
        ticket.orderId = try row.decode(column: "order_id", as: String?.self)
        ticket.buyerId = try row.decode(column: "buyer_id", as: String?.self)
        ticket.holderId = try row.decode(column: "holder_id", as: String?.self)
        ticket.serial = try row.decode(column: "serial", as: Int.self)
        ticket.heldAt = try row.decode(column: "held_at", as: Date?.self)
        ticket.checkedInAt = try row.decode(column: "checked_in_at", as: Date?.self)
        ticket.paidCents = try row.decode(column: "paid_cents", as: Int64?.self)
        ticket.resaleOf = try row.decode(column: "resale_of", as: UUID?.self)
        ticket.faceValueCents = try row.decode(column: "face_value_cents", as: Int64?.self)
        ticket.issuer = try row.decode(column: "issuer_id", as: String?.self)
        ticket.withdrawnAt = try row.decode(column: "withdrawn_at", as: Date?.self)
        ticket.resoldAt = try row.decode(column: "resold_at", as: Date?.self)
        ticket.$id.exists = true
        return ticket
    }

    /// Writes the ticket's title, price, order, holding and listing state as the next version, only if the stored
    /// row is still at the version this copy was read at. Throws `StaleTicket` otherwise, so nothing is ever silently
    /// overwritten.
    func saveNextVersion(on db: any Database) async throws {
        let id = try requireID()
        let row = try await db.sql.raw("""
            UPDATE tickets SET title = \(bind: title), price_cents = \(bind: priceCents), order_id = \(bind: orderId),
                   buyer_id = \(bind: buyerId), paid_cents = \(bind: paidCents), holder_id = \(bind: holderId),
                   serial = \(bind: serial), held_at = \(bind: heldAt), withdrawn_at = \(bind: withdrawnAt),
                   resold_at = \(bind: resoldAt), version = version + 1
            WHERE id = \(bind: id) AND version = \(bind: version)
            RETURNING version
            """).first()
        guard let row else { throw StaleTicket() }
        version = try row.decode(column: "version", as: Int.self)
    }
}

extension Ticket {
    /// Reserves a free ticket for the order in one statement and returns its announcement (the next version).
    /// Nil when the ticket is unknown, already held or withdrawn: the caller reads it to tell which.
    static func reserveIfFree(
        _ id: UUID, for orderId: String, buyer: String, paying price: Money, on db: any Database
    ) async throws -> TicketUpdatedEvent? {
        guard let row = try await db.sql.raw("""
            UPDATE tickets SET order_id = \(bind: orderId), buyer_id = \(bind: buyer), paid_cents = \(bind: price.cents),
                   version = version + 1
            WHERE id = \(bind: id) AND order_id IS NULL AND withdrawn_at IS NULL
            RETURNING title, price_cents, user_id, version
            """).first()
        else { return nil }
        return TicketUpdatedEvent(
            id: id.uuidString.lowercased(), version: try row.decode(column: "version", as: Int.self),
            title: try row.decode(column: "title", as: String.self),
            price: Money(cents: try row.decode(column: "price_cents", as: Int64.self)),
            userId: try row.decode(column: "user_id", as: String.self), orderId: orderId
        )
    }
}

extension Ticket {
    /// Lists the ticket, unless it resells a ticket that already has an open resale (the partial unique index
    /// `tickets_one_resale` decides, so of simultaneous listings exactly one is written). Returns whether it was.
    func createIfFirstResale(on db: any Database) async throws -> Bool {
        try await db.sql.raw("""
            INSERT INTO tickets (id, title, price_cents, user_id, version, serial, resale_of, face_value_cents, issuer_id, created_at)
            VALUES (\(bind: try requireID()), \(bind: title), \(bind: priceCents), \(bind: userId), \(bind: version), \(bind: serial),
                    \(bind: resaleOf), \(bind: faceValueCents), \(bind: issuer), \(bind: createdAt))
            ON CONFLICT DO NOTHING RETURNING id
            """).first() != nil
    }

    /// Withdraws the resale listing of ticket `id`, if it has one on sale, reserved or not, and records its
    /// `ticket:updated`: the holder is using the ticket (at the door), or no longer holds it (a hand-over undone).
    /// The orders service then cancels the listing's order, and a payment made for it is refunded. Callers hold the
    /// resold ticket's lock, so the listing is locked after it, in the order every writer of both takes.
    static func withdrawResale(of id: UUID, at now: Date, in tx: UnitOfWork.Transaction) async throws {
        guard let resaleID = try await resales(of: [id], on: tx.db)[id],
              let listing = try await findForUpdate(resaleID, on: tx.db), listing.withdrawnAt == nil, listing.holderId == nil
        else { return }
        listing.withdrawnAt = now
        try await listing.saveNextVersion(on: tx.db)
        try await tx.record(try listing.updatedEvent)
    }

    /// The open (or sold) resale listing of each of the tickets, by the id of the ticket it resells.
    static func resales(of ids: [UUID], on db: any Database) async throws -> [UUID: UUID] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await db.sql.raw("""
            SELECT id, resale_of FROM tickets WHERE resale_of IN (\(binds: ids)) AND withdrawn_at IS NULL
            """).all()
        return try Dictionary(rows.map { (try $0.decode(column: "resale_of", as: UUID.self), try $0.decode(column: "id", as: UUID.self)) },
                              uniquingKeysWith: { first, _ in first })
    }
}

/// The last version of each order this service applied, so order events apply in their order:
/// `order:cancelled` (version n) only on top of what came before it.
enum OrderVersions {
    enum Position {
        case next, alreadyApplied, early
    }

    /// The last version of the order applied here; nil before its `order:created`.
    static func version(of orderId: String, on db: any Database) async throws -> Int? {
        try await db.sql.raw("SELECT version FROM order_versions WHERE order_id = \(bind: orderId)")
            .first()?.decode(column: "version", as: Int.self)
    }

    static func position(of orderId: String, version: Int, on db: any Database) async throws -> Position {
        switch try await self.version(of: orderId, on: db) {
        case nil: return version == 0 ? .next : .early
        case let current? where version <= current: return .alreadyApplied
        case let current? where version == current + 1: return .next
        default: return .early
        }
    }

    /// Runs `apply` for version `version` of the order only if the version before it was applied: an event already
    /// applied is done, an early one is retried later. In the usual case one statement both checks and advances the
    /// recorded version; an outcome other than `.done` rolls the transaction back, and the advance with it.
    static func applyInOrder(
        _ orderId: String, version: Int, on db: any Database, _ apply: () async throws -> ListenerOutcome
    ) async throws -> ListenerOutcome {
        let advanced: SQLQueryString = version == 0
            ? "INSERT INTO order_versions (order_id, version) VALUES (\(bind: orderId), 0) ON CONFLICT (order_id) DO NOTHING RETURNING version"
            : "UPDATE order_versions SET version = \(bind: version) WHERE order_id = \(bind: orderId) AND version = \(bind: version - 1) RETURNING version"
        guard try await db.sql.raw(advanced).first() != nil else {
            return try await position(of: orderId, version: version, on: db) == .alreadyApplied ? .done : .retryLater
        }
        return try await apply()
    }
}
