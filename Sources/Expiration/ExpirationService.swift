import TicketingCore

extension ServiceDefinition {
    /// The expiration service: turns each `order:created` into `expiration:complete` at the order's `expiresAt`,
    /// from a durable schedule in its own database. It has no routes of its own.
    public static let expiration = ServiceDefinition(
        name: "expiration", defaultPort: 4004, routes: [], publishes: [.expirationComplete], consumes: [.orderCreated],
        migrations: [CreateSchedule()]
    ) { service in
        let scheduler = Scheduler(database: service.database, unitOfWork: service.unitOfWork, logger: service.logger)
        return ServiceParts(
            listeners: [OrderCreatedListener(scheduler: scheduler)],
            background: [BackgroundWork("expiration scheduler") { await scheduler.run() }]
        )
    }
}
