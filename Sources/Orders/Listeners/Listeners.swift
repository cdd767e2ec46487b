import SQLKit
import TicketingCore

/// `ticket:created` adds the ticket to this service's replica.
struct TicketCreatedListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: TicketCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        try await context.db.sql.raw("""
            INSERT INTO tickets (id, title, price_cents, version, user_id, resale_of)
            VALUES (\(bind: event.id), \(bind: event.title), \(bind: event.price.cents), \(bind: event.version), \(bind: event.userId),
                    \(bind: event.resaleOf))
            ON CONFLICT (id) DO NOTHING
            """).run()
        return .done
    }
}

/// `ticket:updated` applies only on top of the version just before it: older ones are dropped, early ones wait.
/// A withdrawal cancels the orders for the ticket that are not complete: they reached this service before the news
/// did and the tickets service reserved nothing for them, or (a resale withdrawn at the door) their hand-over will
/// never come, and a payment made is refunded. A hand-over completes the resale's order that waited for it.
struct TicketUpdatedListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: TicketUpdatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        // The common case, the next version, in one statement; only when it matches nothing is the replica read.
        let applied = try await context.db.sql.raw("""
            UPDATE tickets SET title = \(bind: event.title), price_cents = \(bind: event.price.cents), version = \(bind: event.version),
                   user_id = \(bind: event.userId), order_id = \(bind: event.orderId), holder_id = \(bind: event.holderId),
                   withdrawn = \(bind: event.withdrawn ?? false)
            WHERE id = \(bind: event.id) AND version = \(bind: event.version - 1)
            RETURNING version
            """).first()
        if applied != nil {
            if event.withdrawn == true {
                // The reservations that read the replica before this update hold it shared until they commit (see
                // `Reservations`), so every order they wrote is visible here.
                let waiting = try await context.db.sql.raw("""
                    SELECT id FROM orders WHERE ticket_id = \(bind: event.id) AND status IN (\(binds: OrderStatus.reserving.map(\.rawValue)))
                    """).all().map { try $0.decode(column: "id", as: UUID.self) }
                for id in waiting { _ = try await Order.cancel(id, evenIfPaid: true, in: context.transaction) }
            } else if event.holderId != nil, let orderId = event.orderId, let id = UUID(uuidString: orderId) {
                try await Order.completeIfHandedOver(id, on: context.db)
            }
            return .done
        }
        return try await .afterMissedUpdate(of: "tickets", id: event.id, version: event.version, on: context.db)
    }
}

struct UnknownOrder: Error, CustomStringConvertible {
    var id: String
    var description: String { "no order \(id)" }
}

/// `expiration:complete` cancels the order if it is still waiting for payment; a paid order stays paid.
struct ExpirationCompleteListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: ExpirationCompleteEvent, context: ListenerContext) async throws -> ListenerOutcome {
        guard let id = UUID(uuidString: event.orderId) else { throw UnknownOrder(id: event.orderId) }
        guard try await Order.cancel(id, in: context.transaction) != nil else { throw UnknownOrder(id: event.orderId) }
        return .done
    }
}

/// `payment:created` completes the order. A resale's order completes only once the tickets service has handed the
/// ticket over (the replica shows the order's buyer as holder): the resold ticket's pass is void before the buyer is
/// told the order is complete. Until then the order is marked paid, so that no expiry cancels it meanwhile, and
/// the `ticket:updated` of the hand-over completes it.
struct PaymentCreatedListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: PaymentCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        guard let id = UUID(uuidString: event.orderId) else { throw UnknownOrder(id: event.orderId) }
        while true {
            guard let order = try await Order.findForUpdate(id, on: context.db) else { throw UnknownOrder(id: event.orderId) }
            switch order.status {
            case .complete:
                return .done
            case .cancelled:
                // The payments service refuses cancelled orders, so this is a charge racing an expiry. The ticket may
                // already be another buyer's, so the order stays cancelled; operators see it here and refund.
                context.logger.error("payment for a cancelled order", metadata: ["order-id": "\(event.orderId)", "stripe-id": "\(event.stripeId)"])
                return .done
            case .created, .awaitingPayment:
                if let ticket = try await ReplicatedTicket.find(order.ticketId, on: context.db), ticket.resaleOf != nil,
                   !ticket.isHandedOver(to: order) {
                    try await order.markPaid(on: context.db)
                    return .done
                }
                if try await order.transition(to: .complete, from: [.created, .awaitingPayment], on: context.db) { return .done }
            }
        }
    }
}
