import TicketingCore

extension ServiceDefinition {
    /// The tickets service: list, create, show, edit and withdraw tickets; reserves and frees them as orders come and
    /// go, makes a paid order's buyer the holder, lists held tickets for resale and hands them over, and signs and
    /// checks their passes.
    public static let tickets = ServiceDefinition(
        name: "tickets", defaultPort: 4002, routes: ["/api/tickets"], publishes: [.ticketCreated, .ticketUpdated],
        consumes: [.sessionRevoked, .orderCreated, .orderCancelled, .paymentCreated],
        migrations: [
            CreateTicket(), CreateOrderVersion(), AddHolding(), CreateRateLimits(), AddCheckIn(), AddResale(), AddSearch(),
            AddSellerListings(),
        ]
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
                ResaleController(capPercent: config.resalePriceCapPercent),
                PassController(key: key, verifications: RateLimit(limit: limits.verificationsPerAddress, window: limits.verifyWindow)),
            ],
            background: [RateLimits.pruning(longestWindow: limits.verifyWindow, in: service)]
        )
    }
}
