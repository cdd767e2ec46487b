import ServiceLifecycle

/// A service, declared in one value: its name, where the front door routes to it, the events it publishes and
/// consumes, its tables, and how to build its listeners, routes and background work. `Application.wire` turns it
/// into a running service; `ticketing services --json` prints it for the scripts and the manifests generator.
public struct ServiceDefinition: Sendable {
    public let name: String
    /// Its port when `PORT` is not set, on a developer's machine.
    public let defaultPort: Int
    /// The path prefixes the front door sends to it (CONTRACT.md section 1); "/" takes every path no other claims.
    public let routes: [String]
    public let publishes: [Subject]
    /// What its listeners consume; wiring refuses a service whose listeners say otherwise.
    public let consumes: [Subject]
    /// Its own tables, in order; nil for a service without a database, which has no events either.
    public let migrations: [any Migration]?
    /// What answers errors: the contract's JSON envelope unless the service says otherwise.
    public let errors: @Sendable (TicketingConfig) -> ErrorHandling
    /// Builds its parts once the database and the events are wired.
    public let build: @Sendable (ServiceContext) async throws -> ServiceParts

    public init(
        name: String, defaultPort: Int, routes: [String], publishes: [Subject] = [], consumes: [Subject] = [],
        migrations: [any Migration]?,
        errors: @escaping @Sendable (TicketingConfig) -> ErrorHandling = { _ in ErrorHandling() },
        build: @escaping @Sendable (ServiceContext) async throws -> ServiceParts
    ) {
        self.name = name
        self.defaultPort = defaultPort
        self.routes = routes
        self.publishes = publishes
        self.consumes = consumes
        self.migrations = migrations
        self.errors = errors
        self.build = build
    }

    public var hasDatabase: Bool { migrations != nil }
}

/// The middleware that turns errors into responses, and what must run outside it (so that error answers get it too).
public struct ErrorHandling: Sendable {
    public var errors: any Middleware
    public var outside: [any Middleware]

    public init(errors: any Middleware = ContractErrorMiddleware(), outside: [any Middleware] = []) {
        self.errors = errors
        self.outside = outside
    }
}

/// What a service's `build` gets: the application, its configuration and, with a database, its unit of work.
public struct ServiceContext: Sendable {
    public let app: Application
    public let config: TicketingConfig
    let events: ServiceEvents?

    /// How the service writes (see `UnitOfWork`); only a service with a database has one.
    public var unitOfWork: UnitOfWork {
        guard let events else { preconditionFailure("\(config.service) has no database, so no unit of work") }
        return events.unitOfWork
    }

    /// The service's database, for work outside a request.
    public var database: @Sendable () -> any Database {
        { [app] in app.db }
    }

    public var logger: Logger { app.logger }
}

/// The parts `build` returns; wiring installs them in a fixed order.
public struct ServiceParts: Sendable {
    public var listeners: [any Listener]
    /// Middleware after the shared ones (errors, request ids, the session).
    public var middleware: [any Middleware]
    public var routes: [any RouteCollection & Sendable]
    /// Work the service does on its own while it runs (a scheduler, a reconciler, pruning).
    public var background: [any ServiceLifecycle.Service]
    /// Gauges of its own that `/metrics` samples before each scrape, besides the event machinery's.
    public var metrics: [MetricSampler]

    public init(
        listeners: [any Listener] = [], middleware: [any Middleware] = [], routes: [any RouteCollection & Sendable] = [],
        background: [any ServiceLifecycle.Service] = [], metrics: [MetricSampler] = []
    ) {
        self.listeners = listeners
        self.middleware = middleware
        self.routes = routes
        self.background = background
        self.metrics = metrics
    }
}

/// Records gauges from the service's database when `/metrics` is scraped, so that they are never stale.
public struct MetricSampler: Sendable {
    let name: String
    let sample: @Sendable (any Database) async throws -> Void

    public init(_ name: String, _ sample: @escaping @Sendable (any Database) async throws -> Void) {
        self.name = name
        self.sample = sample
    }
}

/// Background work from a loop that runs until its task is cancelled: cancelled on graceful shutdown.
public struct BackgroundWork: Service {
    let name: String
    let body: @Sendable () async -> Void

    public init(_ name: String, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async {
        await cancelWhenGracefulShutdown(body)
    }
}
