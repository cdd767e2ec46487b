import TicketingCore

struct NewOrderInput: Decodable {
    var ticketId: String?
}

/// Order JSON: `{id, userId, status, expiresAt, version, ticket: {id, title, price, version}}`.
struct OrderResponse: Content {
    struct Ticket: Content {
        var id: String
        var title: String
        var price: Money
        var version: Int
    }

    var id: String
    var userId: String
    var status: OrderStatus
    var expiresAt: String
    var version: Int
    var ticket: Ticket

    init(_ order: Order, _ ticket: ReplicatedTicket) {
        id = order.idString
        userId = order.userId
        status = order.status
        expiresAt = ISOTimestamp.string(order.expiresAt)
        version = order.version
        self.ticket = Ticket(id: ticket.id ?? order.ticketId, title: ticket.title, price: order.price(ticket), version: ticket.version)
    }
}

extension Order {
    var createdEvent: OrderCreatedEvent {
        OrderCreatedEvent(
            id: idString, version: version, status: status, userId: userId, expiresAt: ISOTimestamp.string(expiresAt),
            ticket: .init(id: ticketId, price: Money(cents: priceCents ?? 0))
        )
    }

    var cancelledEvent: OrderCancelledEvent {
        OrderCancelledEvent(id: idString, version: version, ticket: .init(id: ticketId))
    }
}
