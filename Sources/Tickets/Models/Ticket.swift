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
    /// What the order that reserved the ticket charges, from its `order:created`: the face value, should its buyer
    /// resell it. Nil for reservations made before it was kept, which were charged the (then frozen) listed price.
    @OptionalField(key: "paid_cents") var paidCents: Int64?
    /// On a holder's resale listing: the ticket it resells, and what that ticket's holder paid for it.
    @OptionalField(key: "resale_of") var resaleOf: UUID?
    @OptionalField(key: "face_value_cents") var faceValueCents: Int64?
    /// Who listed the first ticket of a resale chain; nil on a first listing, whose issuer is its seller.
    @OptionalField(key: "issuer_id") var issuer: String?
    /// When its owner took the listing off sale.
    @OptionalField(key: "withdrawn_at") var withdrawnAt: Date?
    /// When a resale of it was paid: its holder's pass is void from then on.
    @OptionalField(key: "resold_at") var resoldAt: Date?
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

    /// Who may check the ticket in: the venue, which listed the first ticket of its resale chain.
    var issuerId: String { issuer ?? userId }

    /// What its holder paid, the base of the resale cap.
    var paid: Money { Money(cents: paidCents ?? priceCents) }

    /// Whether the holder's resale `listing` of this ticket may still hand it over: the listing is on sale, and
    /// this ticket is still the reseller's, not resold nor checked in.
    func canBeHandedOver(by listing: Ticket) -> Bool {
        listing.withdrawnAt == nil && holderId == listing.userId && resoldAt == nil && checkedInAt == nil
    }

    /// Whether `pass` is the ticket's current pass: signed for its holder and serial, and not handed on since.
    func isCurrent(_ pass: Pass) -> Bool {
        holderId == pass.holderId && serial == pass.serial && resoldAt == nil
    }
}
