import TicketingCore

struct InvalidExpiry: Error, CustomStringConvertible {
    var expiresAt: String
    var description: String { "order:created with an unreadable expiresAt '\(expiresAt)'" }
}

/// `order:created` schedules the order's expiry at its `expiresAt`.
struct OrderCreatedListener: Listener {
    let queueGroup = QueueGroup.expiration
    let scheduler: Scheduler

    func onMessage(_ event: OrderCreatedEvent, context: ListenerContext) async throws -> ListenerOutcome {
        guard let due = ISOTimestamp.date(event.expiresAt) else { throw InvalidExpiry(expiresAt: event.expiresAt) }
        try await Schedule.add(orderId: event.id, due: due, on: context.db)
        // An order due soon (a backlog after an outage, a very short window) should not wait for the scheduler's
        // next look. If the scheduler looks before this commits, it sees the row on its following look.
        if due.timeIntervalSinceNow < Scheduler.longestNap { scheduler.lookNow() }
        return .done
    }
}
