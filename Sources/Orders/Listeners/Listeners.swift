import SQLKit
import TicketingCore

/// `ticket:created` adds the ticket to this service's replica.
struct TicketCreatedListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: TicketCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        try await context.db.sql.raw("""
            INSERT INTO tickets (id, title, price_cents, version, user_id)
            VALUES (\(bind: event.id), \(bind: event.title), \(bind: event.price.cents), \(bind: event.version), \(bind: event.userId))
            ON CONFLICT (id) DO NOTHING
            """).run()
        return .done
    }
}

/// `ticket:updated` applies only on top of the version just before it: older ones are dropped, early ones wait.
struct TicketUpdatedListener: Listener {
    let queueGroup = QueueGroup.orders

    func onMessage(_ event: TicketUpdatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        // The common case, the next version, in one statement; only when it matches nothing is the replica read.
        let applied = try await context.db.sql.raw("""
            UPDATE tickets SET title = \(bind: event.title), price_cents = \(bind: event.price.cents), version = \(bind: event.version),
                   user_id = \(bind: event.userId)
            WHERE id = \(bind: event.id) AND version = \(bind: event.version - 1)
            RETURNING version
            """).first()
        if applied != nil { return .done }
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

/// `payment:created` completes the order.
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
                if try await order.transition(to: .complete, from: [.created, .awaitingPayment], on: context.db) { return .done }
            }
        }
    }
}
