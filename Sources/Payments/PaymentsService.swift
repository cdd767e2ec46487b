import TicketingCore

extension ServiceDefinition {
    /// The payments service: charges orders through Stripe, from its own replica of orders.
    public static let payments = ServiceDefinition(
        name: "payments", defaultPort: 4005, routes: ["/api/payments"], publishes: [.paymentCreated],
        consumes: [.sessionRevoked, .orderCreated, .orderCancelled],
        migrations: [CreateReplicatedOrder(), CreatePayment(), AddChargeHolder(), QueueRefundsPerCharge()]
    ) { service in
        let config = service.config
        let checkout = Checkout(
            stripe: StripeClient(client: service.app.tracedClient, base: config.stripeAPIBase, key: config.stripeKey),
            unitOfWork: service.unitOfWork, logger: service.logger
        )
        let reconciler = Reconciler(checkout: checkout, database: service.database)
        return ServiceParts(
            listeners: [SessionRevokedListener(queueGroup: QueueGroup.payments), OrderCreatedListener(), OrderCancelledListener()],
            routes: [PaymentController(checkout: checkout)],
            background: [BackgroundWork("payments reconciler") { await reconciler.run() }],
            metrics: [PaymentMetrics.sampler]
        )
    }
}
