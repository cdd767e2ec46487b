import TicketingCore

/// The orders service: reserves tickets with orders that expire unless paid, from its own replica of tickets.
public enum OrdersService {
    public static func configure(_ app: Application, _ config: TicketingConfig, bus: (any EventBus)? = nil) async throws {
        try await app.configureTicketingService(config)
        app.migrations.add(CreateReplicatedTicket(), CreateOrder(), AddOrderPrice(), AddReplicatedTicketSeller(), CreateRateLimits())
        app.useSessionRevocations()
        try await app.useEvents(config, bus: bus, listeners: [
            SessionRevokedListener(queueGroup: QueueGroup.orders), TicketCreatedListener(), TicketUpdatedListener(), ExpirationCompleteListener(), PaymentCreatedListener(),
        ])
        try await app.prepareDatabase(config)
        try app.register(collection: OrderController(
            expirationWindow: TimeInterval(config.expirationWindowSeconds),
            reservations: Reservations(transactions: app.writeTransactions, limits: config.limits),
            maxHeld: config.limits.activeOrdersPerUser
        ))
        app.lifecycle.use(BackgroundTask { [unowned app] in
            await RateLimits.pruneRegularly(longestWindow: config.limits.orderWindow, db: { app.db }, logger: app.logger)
        })
    }
}
