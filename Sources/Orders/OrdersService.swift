import TicketingCore

extension ServiceDefinition {
    /// The orders service: reserves tickets with orders that expire unless paid, from its own replica of tickets.
    public static let orders = ServiceDefinition(
        name: "orders", defaultPort: 4003, routes: ["/api/orders"], publishes: [.orderCreated, .orderCancelled],
        consumes: [.sessionRevoked, .ticketCreated, .ticketUpdated, .expirationComplete, .paymentCreated],
        migrations: [CreateReplicatedTicket(), CreateOrder(), AddOrderPrice(), AddReplicatedTicketSeller(), CreateRateLimits(), AddReplicatedTicketResale()]
    ) { service in
        let config = service.config
        return ServiceParts(
            listeners: [
                SessionRevokedListener(queueGroup: QueueGroup.orders), TicketCreatedListener(), TicketUpdatedListener(),
                ExpirationCompleteListener(), PaymentCreatedListener(),
            ],
            routes: [OrderController(
                expirationWindow: TimeInterval(config.expirationWindowSeconds),
                reservations: Reservations(unitOfWork: service.unitOfWork, limits: config.limits),
                maxHeld: config.limits.activeOrdersPerUser
            )],
            background: [RateLimits.pruning(longestWindow: config.limits.orderWindow, in: service)]
        )
    }
}
