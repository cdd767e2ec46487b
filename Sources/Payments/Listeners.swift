import SQLKit
import TicketingCore

struct InvalidOrderEvent: Error, CustomStringConvertible {
    var description: String
}

/// `order:created` adds the order to this service's replica.
struct OrderCreatedListener: Listener {
    let queueGroup = QueueGroup.payments

    func onMessage(_ event: OrderCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        guard let expiresAt = ISOTimestamp.date(event.expiresAt) else {
            throw InvalidOrderEvent(description: "order:created with an unreadable expiresAt '\(event.expiresAt)'")
        }
        try await context.db.sql.raw("""
            INSERT INTO orders (id, version, status, user_id, price_cents, expires_at_ms)
            VALUES (\(bind: event.id), \(bind: event.version), \(bind: event.status.rawValue), \(bind: event.userId),
                    \(bind: event.ticket.price.cents), \(bind: expiresAt.epochMilliseconds))
            ON CONFLICT (id) DO NOTHING
            """).run()
        return .done
    }
}

/// `order:cancelled` marks the replica cancelled, applied only on top of the version just before it.
struct OrderCancelledListener: Listener {
    let queueGroup = QueueGroup.payments

    func onMessage(_ event: OrderCancelledEvent, context: ListenerContext) async throws -> ListenerOutcome {
        let applied = try await context.db.sql.raw("""
            UPDATE orders SET status = \(bind: OrderStatus.cancelled.rawValue), version = \(bind: event.version)
            WHERE id = \(bind: event.id) AND version = \(bind: event.version - 1)
            RETURNING version
            """).first()
        if applied != nil {
            // A charge that raced the expiry: the buyer paid for an order that no longer holds the ticket.
            if try await Refunds.schedule(orderId: event.id, on: context.db) {
                context.logger.warning("order cancelled after it was paid; refunding", metadata: ["order-id": "\(event.id)"])
            }
            return .done
        }
        return try await .afterMissedUpdate(of: "orders", id: event.id, version: event.version, on: context.db)
    }
}
