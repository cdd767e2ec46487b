import TicketingCore

/// `payment:created` makes the order's buyer the holder of the ticket the order reserved, with the next pass serial,
/// and announces it with `ticket:updated` (carrying `holderId`). When the ticket is a resale listing this is the
/// hand-over: in the same transaction the resold ticket is marked resold, so its pass is void from the moment the
/// new one exists.
struct PaymentCreatedListener: Listener {
    let queueGroup = QueueGroup.tickets

    func onMessage(_ event: PaymentCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        let db = context.db
        // The order first: its `order:created` commits the reservation and the order's version together, so once the
        // version is there the ticket read next sees the reservation, or what came after it. Read the other way round,
        // on PostgreSQL a reservation committing between the two reads looked like an order already cancelled.
        guard try await OrderVersions.version(of: event.orderId, on: db) != nil else { return .retryLater }
        let (found, resold) = try await Ticket.findForUpdateWithResold(reservedBy: event.orderId, on: db)
        guard let ticket = found else {
            // Its cancellation freed the ticket first (the payment is being refunded): nothing to hold.
            return .done
        }
        guard ticket.holderId == nil else { return .done }
        guard let buyer = ticket.buyerId else {
            // Reserved before this service recorded buyers: the holder is not known here.
            context.logger.warning("paid ticket has no recorded buyer; not held", metadata: ["order-id": "\(event.orderId)"])
            return .done
        }
        if let resold, !resold.canBeHandedOver(by: ticket) {
            // Withdrawn at the door (or taken back) while its buyer paid: the orders service cancels the order on the
            // news of the withdrawal, and the payment is refunded. Handing it over would make two valid passes.
            context.logger.warning("paid resale can no longer be handed over; not held", metadata: ["order-id": "\(event.orderId)"])
            return .done
        }
        let now = Date()
        ticket.holderId = buyer
        // A resale continues its chain's serials: no two passes of one chain carry the same one.
        ticket.serial = max(ticket.serial, resold?.serial ?? 0) + 1
        ticket.heldAt = now
        try await ticket.saveNextVersion(on: db)
        try await context.record(try ticket.updatedEvent)
        if let resold {
            resold.resoldAt = now
            try await resold.saveNextVersion(on: db)
            try await context.record(try resold.updatedEvent)
        }
        return .done
    }
}
