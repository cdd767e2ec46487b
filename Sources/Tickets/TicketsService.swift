import TicketingCore

extension ServiceDefinition {
    /// The tickets service: list, create, show and edit tickets; reserves and frees them as orders come and go, makes a
    /// paid order's buyer the holder, and signs and checks their passes.
    public static let tickets = ServiceDefinition(
        name: "tickets", defaultPort: 4002, routes: ["/api/tickets"], publishes: [.ticketCreated, .ticketUpdated],
        consumes: [.sessionRevoked, .orderCreated, .orderCancelled, .paymentCreated],
        migrations: [CreateTicket(), CreateOrderVersion(), AddHolding(), CreateRateLimits(), AddCheckIn()]
    ) { service in
        let config = service.config
        let key = try PassKey(hex: config.passSigningKey ?? LocalSecret.load(named: "pass-signing-key", in: config.dataDirectory))
        let limits = config.limits
        return ServiceParts(
            listeners: [
                SessionRevokedListener(queueGroup: QueueGroup.tickets), OrderCreatedListener(), OrderCancelledListener(),
                PaymentCreatedListener(),
            ],
            routes: [
                TicketController(),
                PassController(key: key, verifications: RateLimit(limit: limits.verificationsPerAddress, window: limits.verifyWindow)),
            ],
            background: [RateLimits.pruning(longestWindow: limits.verifyWindow, in: service)]
        )
    }
}
