import TicketingCore

/// The tickets service: list, create, show and edit tickets; reserves and frees them as orders come and go.
public enum TicketsService {
    public static func configure(_ app: Application, _ config: TicketingConfig, bus: (any EventBus)? = nil) async throws {
        try await app.configureTicketingService(config)
        app.migrations.add(CreateTicket(), CreateOrderVersion())
        app.useSessionRevocations()
        try await app.useEvents(config, bus: bus, listeners: [
            SessionRevokedListener(queueGroup: QueueGroup.tickets), OrderCreatedListener(), OrderCancelledListener(),
        ])
        try await app.prepareDatabase(config)
        try app.register(collection: TicketController())
    }
}
