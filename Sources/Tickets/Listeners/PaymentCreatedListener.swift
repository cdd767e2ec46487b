import TicketingCore

/// `payment:created` makes the order's buyer the holder of the ticket the order reserved, with the next pass serial,
/// and announces it with `ticket:updated` (carrying `holderId`).
struct PaymentCreatedListener: Listener {
    let queueGroup = QueueGroup.tickets

    func onMessage(_ event: PaymentCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        let db = context.db
        // The order first: its `order:created` commits the reservation and the order's version together, so once the
        // version is there the ticket read next sees the reservation, or what came after it. Read the other way round,
        // on PostgreSQL a reservation committing between the two reads looked like an order already cancelled.
        guard try await OrderVersions.version(of: event.orderId, on: db) != nil else { return .retryLater }
        guard let ticket = try await Ticket.findForUpdate(reservedBy: event.orderId, on: db) else {
            // Its cancellation freed the ticket first (the payment is being refunded): nothing to hold.
            return .done
        }
        guard ticket.holderId == nil else { return .done }
        guard let buyer = ticket.buyerId else {
            // Reserved before this service recorded buyers: the holder is not known here.
            context.logger.warning("paid ticket has no recorded buyer; not held", metadata: ["order-id": "\(event.orderId)"])
            return .done
        }
        ticket.holderId = buyer
        ticket.serial += 1
        ticket.heldAt = Date()
        try await ticket.saveNextVersion(on: db)
        try await context.record(try ticket.updatedEvent)
        return .done
    }
}
