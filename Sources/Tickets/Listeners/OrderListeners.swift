import TicketingCore

/// A ticket named by an order event that this service does not have.
struct UnknownTicket: Error, CustomStringConvertible {
    var id: String
    var description: String { "no ticket \(id)" }
}

func findTicket(_ id: String, on db: any Database) async throws -> Ticket {
    guard let uuid = UUID(uuidString: id), let ticket = try await Ticket.findForUpdate(uuid, on: db) else {
        throw UnknownTicket(id: id)
    }
    return ticket
}

/// `order:created` reserves the ticket for the order and announces it with `ticket:updated` (carrying `orderId`).
struct OrderCreatedListener: Listener {
    let queueGroup = QueueGroup.tickets

    func onMessage(_ event: OrderCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        try await OrderVersions.applyInOrder(event.id, version: event.version, on: context.db) {
            if let id = UUID(uuidString: event.ticket.id),
               let reserved = try await Ticket.reserveIfFree(id, for: event.id, buyer: event.userId, paying: event.ticket.price, on: context.db) {
                try await context.record(reserved)
                return .done
            }
            let ticket = try await findTicket(event.ticket.id, on: context.db)
            // Withdrawn before the orders service heard: it cancels this order when it does, so nothing is reserved.
            if ticket.withdrawnAt != nil { return .done }
            // Held by an earlier order whose cancellation has not arrived yet: wait for it. Held by this order: done.
            return ticket.orderId == event.id ? .done : .retryLater
        }
    }
}

/// `order:cancelled` frees the ticket, but only if that very order holds it. A cancelled order that was already
/// handed over (its payment lost the race with the expiry, and is refunded) takes the ticket back: a resale gives the
/// resold ticket back to its holder, and a resale listing the refunded buyer made meanwhile is withdrawn.
struct OrderCancelledListener: Listener {
    let queueGroup = QueueGroup.tickets

    func onMessage(_ event: OrderCancelledEvent, context: ListenerContext) async throws -> ListenerOutcome {
        try await OrderVersions.applyInOrder(event.id, version: event.version, on: context.db) {
            guard let id = UUID(uuidString: event.ticket.id) else { throw UnknownTicket(id: event.ticket.id) }
            let (found, resold) = try await Ticket.findForUpdateWithResold(id, on: context.db)
            guard let ticket = found else { throw UnknownTicket(id: event.ticket.id) }
            if ticket.orderId == event.id {
                if ticket.holderId != nil {
                    if let resold, resold.resoldAt != nil {
                        resold.resoldAt = nil
                        try await resold.saveNextVersion(on: context.db)
                        try await context.record(try resold.updatedEvent)
                    }
                    try await Ticket.withdrawResale(of: id, at: Date(), in: context.transaction)
                }
                ticket.orderId = nil
                ticket.buyerId = nil
                ticket.paidCents = nil
                // A payment that lost the race with its order's expiry is refunded: its buyer holds nothing.
                ticket.holderId = nil
                ticket.heldAt = nil
                try await ticket.saveNextVersion(on: context.db)
                try await context.record(try ticket.updatedEvent)
            }
            return .done
        }
    }
}
