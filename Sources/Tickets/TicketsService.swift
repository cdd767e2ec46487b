import TicketingCore

extension ServiceDefinition {
    /// The tickets service: list, create, show and edit tickets; reserves and frees them as orders come and go.
    public static let tickets = ServiceDefinition(
        name: "tickets", defaultPort: 4002, routes: ["/api/tickets"], publishes: [.ticketCreated, .ticketUpdated],
        consumes: [.sessionRevoked, .orderCreated, .orderCancelled],
        migrations: [CreateTicket(), CreateOrderVersion()]
    ) { _ in
        ServiceParts(
            listeners: [SessionRevokedListener(queueGroup: QueueGroup.tickets), OrderCreatedListener(), OrderCancelledListener()],
            routes: [TicketController()]
        )
    }
}
