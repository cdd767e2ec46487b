import SQLKit
import TicketingCore

/// This service's copy of a ticket, kept from `ticket:created` / `ticket:updated`.
final class ReplicatedTicket: Model, @unchecked Sendable {
    static let schema = "tickets"

    @ID(custom: "id", generatedBy: .user) var id: String?
    @Field(key: "title") var title: String
    @Field(key: "price_cents") var priceCents: Int64
    @Field(key: "version") var version: Int
    /// Who listed it; nil only for tickets replicated before the column existed.
    @OptionalField(key: "user_id") var userId: String?
    /// On a resale listing, the ticket it resells; its payment completes an order only once the hand-over is done.
    @OptionalField(key: "resale_of") var resaleOf: String?
    /// Who holds it since it was paid for.
    @OptionalField(key: "holder_id") var holderId: String?
    /// Taken off sale by its owner: no order may hold it.
    @Field(key: "withdrawn") var withdrawn: Bool
    /// The order the tickets service reserved it for (and, once paid, the one that bought it).
    @OptionalField(key: "order_id") var orderId: String?

    init() {}

    init(id: String, title: String, price: Money, version: Int, userId: String?, withdrawn: Bool = false) {
        self.id = id
        self.title = title
        priceCents = price.cents
        self.version = version
        self.userId = userId
        self.withdrawn = withdrawn
    }

    var price: Money { Money(cents: priceCents) }

    /// Whether the tickets service has handed the ticket over to `order`'s buyer: for a resale, the moment its old
    /// pass was voided.
    func isHandedOver(to order: Order) -> Bool {
        orderId == order.idString && holderId == order.userId
    }

    /// The replica's ticket by id in one plain query: the reservation path reads it on every request.
    static func lookup(_ id: String, on db: any Database) async throws -> ReplicatedTicket? {
        guard let row = try await db.sql.raw("SELECT title, price_cents, version, user_id, withdrawn FROM tickets WHERE id = \(bind: id)").first()
        else { return nil }
        return ReplicatedTicket(
            id: id, title: try row.decode(column: "title", as: String.self),
            price: Money(cents: try row.decode(column: "price_cents", as: Int64.self)),
            version: try row.decode(column: "version", as: Int.self),
            userId: try row.decode(column: "user_id", as: String?.self),
            withdrawn: try row.decode(column: "withdrawn", as: Bool.self)
        )
    }
}

final class Order: Model, @unchecked Sendable {
    static let schema = "orders"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userId: String
    @Field(key: "status") var status: OrderStatus
    @Field(key: "expires_at") var expiresAt: Date
    @Field(key: "ticket_id") var ticketId: String
    /// The ticket's price when the order was made: what the buyer is shown and charged, whatever the seller
    /// changes afterwards. Nil only for an order written by a replica of the release before (during a rollout).
    @OptionalField(key: "price_cents") var priceCents: Int64?
    @Field(key: "version") var version: Int
    /// When its payment arrived, for a resale's order that waits for the hand-over to complete: no expiry or
    /// cancellation by the buyer takes it back meanwhile, only the listing's withdrawal (then it is refunded).
    @OptionalField(key: "paid_at") var paidAt: Date?
    @Field(key: "created_at") var createdAt: Date

    init() {}

    init(userId: String, ticketId: String, price: Money, expiresAt: Date, createdAt: Date = Date()) {
        id = UUID()
        self.userId = userId
        status = .created
        self.expiresAt = expiresAt
        self.ticketId = ticketId
        priceCents = price.cents
        version = 0
        self.createdAt = createdAt
    }

    /// What the order costs; `ticket` is the replica's copy, for an order made before orders kept their price.
    func price(_ ticket: ReplicatedTicket) -> Money {
        priceCents.map(Money.init(cents:)) ?? ticket.price
    }

    /// Every order gets its id in `init`, so it is always there.
    var idString: String { id!.uuidString.lowercased() }
}

extension OrderStatus {
    /// Statuses that hold the ticket: at most one order per ticket is ever in one of them.
    static let active: [OrderStatus] = [.created, .awaitingPayment, .complete]
    /// Statuses of a reservation: held, not yet paid. `ACTIVE_ORDERS_PER_USER` counts these.
    static let reserving: [OrderStatus] = [.created, .awaitingPayment]
}
