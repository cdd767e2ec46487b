import TicketingCore

/// The payments service: charges orders through Stripe, from its own replica of orders.
public enum PaymentsService {
    public static func configure(_ app: Application, _ config: TicketingConfig, bus: (any EventBus)? = nil) async throws {
        try await app.configureTicketingService(config)
        app.migrations.add(CreateReplicatedOrder(), CreatePayment(), AddChargeHolder(), QueueRefundsPerCharge())
        app.useSessionRevocations()
        try await app.useEvents(config, bus: bus, listeners: [
            SessionRevokedListener(queueGroup: QueueGroup.payments), OrderCreatedListener(), OrderCancelledListener(),
        ])
        try await app.prepareDatabase(config)
        let checkout = Checkout(
            stripe: StripeClient(client: app.client, base: config.stripeAPIBase, key: config.stripeKey),
            transactions: app.writeTransactions, logger: app.logger
        )
        let reconciler = Reconciler(checkout: checkout, database: { [unowned app] in app.db })
        app.lifecycle.use(BackgroundTask { await reconciler.run() })
        try app.register(collection: PaymentController(checkout: checkout))
    }
}
