import TicketingCore

/// The expiration service: turns each `order:created` into `expiration:complete` at the order's `expiresAt`,
/// from a durable schedule in its own database.
public enum ExpirationService {
    public static func configure(_ app: Application, _ config: TicketingConfig, bus: (any EventBus)? = nil) async throws {
        try await app.configureTicketingService(config)
        app.migrations.add(CreateSchedule())
        let scheduler = Scheduler(
            database: { [unowned app] in app.db }, transactions: app.writeTransactions, logger: app.logger,
            afterCommit: { [unowned app] in app.events?.relay.wake() }
        )
        try await app.useEvents(config, bus: bus, listeners: [OrderCreatedListener(scheduler: scheduler)])
        try await app.prepareDatabase(config)
        app.lifecycle.use(BackgroundTask { await scheduler.run() })
    }
}
