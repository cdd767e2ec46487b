import TicketingCore

final class Ticket: Model, @unchecked Sendable {
    static let schema = "tickets"

    @ID(key: .id) var id: UUID?
    @Field(key: "title") var title: String
    @Field(key: "price_cents") var priceCents: Int64
    @Field(key: "user_id") var userId: String
    /// Raised by one on every change; an update that read an older version does not apply (optimistic locking).
    @Field(key: "version") var version: Int
    /// The order holding the ticket, while one does, and once paid the order that bought it.
    @OptionalField(key: "order_id") var orderId: String?
    /// Who made that order: the holder to be once it is paid.
    @OptionalField(key: "buyer_id") var buyerId: String?
    /// Who holds the ticket since its order was paid.
    @OptionalField(key: "holder_id") var holderId: String?
    /// The pass's serial: raised with every hand-over, so an older pass of the ticket is no longer the current one.
    @Field(key: "serial") var serial: Int
    @OptionalField(key: "held_at") var heldAt: Date?
    /// When the door admitted the holder; a ticket is checked in once.
    @OptionalField(key: "checked_in_at") var checkedInAt: Date?
    @Field(key: "created_at") var createdAt: Date

    init() {}

    init(id: UUID = UUID(), title: String, price: Money, userId: String, createdAt: Date = Date()) {
        self.id = id
        self.title = title
        priceCents = price.cents
        self.userId = userId
        version = 0
        serial = 0
        self.createdAt = createdAt
    }

    var price: Money { Money(cents: priceCents) }

    /// Who may check the ticket in: the venue, which listed it first. Until resale exists that is its seller.
    var issuerId: String { userId }
}
