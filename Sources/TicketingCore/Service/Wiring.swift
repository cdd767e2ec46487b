import JWT
import ServiceLifecycle

extension Application {
    /// Wires `service` in one fixed order: the shared middleware and health routes, the database (migrated only when
    /// `migrate`), the event bus (`bus`, an in-memory one in unit tests, or JetStream at `NATS_URL`), the service's
    /// listeners, middleware and routes, and its background work. Returns the background services in start order (the
    /// events first); graceful shutdown stops them in reverse, so work that writes stops before the events drain.
    public func wire(
        _ service: ServiceDefinition, _ config: TicketingConfig, migrate: Bool, bus: (any EventBus)? = nil,
        tuning: EventTuning = EventTuning()
    ) async throws -> [any ServiceLifecycle.Service] {
        try await shareHTTP(config, errors: service.errors(config))
        guard let migrations = service.migrations else {
            return try install(await service.build(ServiceContext(app: self, config: config, events: nil)))
        }
        let transactions = try await openDatabase(config, migrations: migrations, migrate: migrate)
        let events = try await connectEvents(config, bus: bus, transactions: transactions, pollInterval: tuning.relayPollInterval)
        storage[ServiceEventsKey.self] = events
        let parts = try await service.build(ServiceContext(app: self, config: config, events: events))
        let consumed = parts.listeners.map(\.subject)
        guard consumed == service.consumes else {
            throw WiringError(description: "\(service.name) declares it consumes \(service.consumes.map(\.rawValue)) but listens to \(consumed.map(\.rawValue))")
        }
        let revocations = sessionRevocations
        let refresh = BackgroundWork("session revocations") { [unowned self] in
            await revocations.refreshRegularly(db: { self.db }, writes: events.unitOfWork, logger: self.logger)
        }
        return [events.running(listeners: parts.listeners, policy: tuning.listeners), refresh] + (try install(parts))
    }

    /// The service's parked events and its listeners to replay them through, on its database alone (`ticketing
    /// dead-letters`): no broker, no HTTP. What a replay records waits in the outbox for the running service's relay.
    public func deadLetterDesk(_ service: ServiceDefinition, _ config: TicketingConfig) async throws -> DeadLetterDesk {
        let transactions = try await openDatabaseAlone(service, config, migrate: false, lacking: ", so no dead letters")
        let events = ServiceEvents(bus: OfflineBus(), database: { [unowned self] in self.db }, transactions: transactions, logger: logger)
        let parts = try await service.build(ServiceContext(app: self, config: config, events: events))
        return DeadLetterDesk(listeners: parts.listeners, unitOfWork: events.unitOfWork, db: db, logger: logger)
    }

    /// The service's outbox backlog, from its database alone (`ticketing events lag`).
    public func outboxBacklog(_ service: ServiceDefinition, _ config: TicketingConfig) async throws -> OutboxBacklog {
        _ = try await openDatabaseAlone(service, config, migrate: false, lacking: ", so no outbox")
        return try await OutboxBacklog.read(on: db)
    }

    /// Applies `service`'s migrations and returns, opening nothing but its database (`ticketing migrate`).
    public func migrate(_ service: ServiceDefinition, _ config: TicketingConfig) async throws {
        _ = try await openDatabaseAlone(service, config, migrate: true, lacking: "")
    }

    /// The database step alone, for the tools; a service without one is refused, `lacking` saying what it then lacks.
    private func openDatabaseAlone(
        _ service: ServiceDefinition, _ config: TicketingConfig, migrate: Bool, lacking: String
    ) async throws -> WriteTransactions {
        guard let migrations = service.migrations else { throw WiringError(description: "\(service.name) has no database\(lacking)") }
        return try await openDatabase(config, migrations: migrations, migrate: migrate)
    }

    /// The database step: connects, registers the machinery's, the session revocations' and the service's own tables,
    /// and migrates when asked.
    /// Returns how the database's write transactions take turns.
    private func openDatabase(_ config: TicketingConfig, migrations: [any Migration], migrate: Bool) async throws -> WriteTransactions {
        let location = try DatabaseLocation(url: config.databaseURL)
        try useDatabase(location)
        readinessChecks = [.database]
        self.migrations.add(ServiceEvents.migrations + [CreateRevokedSessions()] + migrations)
        try await tuneDatabase(location)
        if migrate { try await self.migrate(location) }
        return WriteTransactions(sqlite: location.isSQLite)
    }

    /// The event bus step: `bus` if given, else JetStream at `NATS_URL` (which need not be up: the relay and the
    /// listeners wait for it).
    private func connectEvents(
        _ config: TicketingConfig, bus: (any EventBus)?, transactions: WriteTransactions, pollInterval: Double
    ) async throws -> ServiceEvents {
        let database: @Sendable () -> any Database = { [unowned self] in self.db }
        guard let bus else {
            return try await ServiceEvents.connect(
                urls: config.natsURL, name: config.service, replicas: config.streamReplicas,
                database: database, transactions: transactions, logger: logger, pollInterval: pollInterval
            )
        }
        return ServiceEvents(bus: bus, database: database, transactions: transactions, logger: logger, pollInterval: pollInterval)
    }

    /// What every service shares: middleware (errors, request ids, the session), the session key, password hashing,
    /// the HTTP client's timeouts and the health routes.
    private func shareHTTP(_ config: TicketingConfig, errors: ErrorHandling) async throws {
        TicketingMetrics.bootstrap()
        middleware = .init()
        middleware.use(EdgeMiddleware())
        middleware.use(RouteLoggingMiddleware(logLevel: .info))
        for outer in errors.outside { middleware.use(outer) }
        middleware.use(errors.errors)
        middleware.use(CurrentUserMiddleware(revocations: sessionRevocations))

        await jwt.keys.add(hmac: HMACKey(from: config.jwtKey), digestAlgorithm: .sha256)
        sessionIssuer = SessionIssuer(lifetime: TimeInterval(config.sessionLifetimeSeconds), secureCookie: config.secureCookies)
        passwords.use(.bcrypt(cost: config.bcryptCost))
        // A dependency that cannot be reached should cost a visitor seconds, not the client's default ten per try.
        http.client.configuration.timeout = .init(connect: .seconds(2), read: .seconds(15))
        readinessChecks = []
        try routes.register(collection: HealthController())
    }

    /// The service's own middleware and routes; returns its background work.
    private func install(_ parts: ServiceParts) throws -> [any ServiceLifecycle.Service] {
        for middleware in parts.middleware { self.middleware.use(middleware) }
        for collection in parts.routes { try routes.register(collection: collection) }
        storage[MetricSamplersKey.self] = parts.metrics
        storage[MetricsSamplingKey.self] = MetricsSampling()
        return parts.background
    }
}

struct WiringError: Error, CustomStringConvertible {
    var description: String
}

extension Application {
    struct ServiceEventsKey: StorageKey {
        typealias Value = ServiceEvents
    }

    /// The service's events, once wired with a database.
    public var events: ServiceEvents? {
        storage[ServiceEventsKey.self]
    }

    struct MetricSamplersKey: StorageKey {
        typealias Value = [MetricSampler]
    }

    struct MetricsSamplingKey: StorageKey {
        typealias Value = MetricsSampling
    }

    /// Brings the sampled gauges up to date before a scrape: the broker's state and the event backlog, then the
    /// service's own. One that cannot be read keeps its last value; the scrape still answers, within
    /// `MetricsSampling.deadline`.
    func sampleMetrics() async {
        guard let events, let sampling = storage[MetricsSamplingKey.self] else { return }
        events.recordBrokerState()
        let samplers = storage[MetricSamplersKey.self] ?? []
        await sampling.sample { [db, logger] in
            await events.recordBacklog()
            for sampler in samplers {
                do {
                    try await sampler.sample(db)
                } catch {
                    logger.warning("could not sample a metric", metadata: ["metric": "\(sampler.name)", "error": "\(error)"])
                }
            }
        }
    }
}

extension Request {
    /// Runs `body` as one unit of work: its changes and the events it records commit together, and are published
    /// once committed.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (UnitOfWork.Transaction) async throws -> T) async throws -> T {
        try await unitOfWork.run(on: db, body)
    }

    /// Runs one write statement that records no event (see `UnitOfWork.statement`).
    public func statement<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        try await unitOfWork.statement(on: db, body)
    }

    private var unitOfWork: UnitOfWork {
        get throws {
            guard let events = application.events else { throw AppError.internalFailure }
            return events.unitOfWork
        }
    }
}

extension Listener {
    var subject: Subject { Payload.subject }
}
