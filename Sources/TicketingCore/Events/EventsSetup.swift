import JetStream
import Logging
import Metrics
import Synchronization
import Vapor

/// A service's event machinery: the bus, the outbox relay, the listeners and the inbox's pruning, started when the
/// application boots and stopped (listeners first, then a last relay pass, then the connection) when it shuts down.
public final class ServiceEvents: LifecycleHandler, Sendable {
    public let bus: any EventBus
    public let relay: OutboxRelay
    let runners: [ListenerRunner]
    let logger: Logger
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let database: @Sendable () -> any Database
    private let transactions: WriteTransactions
    private let brokerGauge = Gauge(label: "events_broker_connected")

    init(
        bus: any EventBus, runners: [ListenerRunner], database: @escaping @Sendable () -> any Database,
        transactions: WriteTransactions, logger: Logger
    ) {
        self.bus = bus
        self.runners = runners
        self.database = database
        self.transactions = transactions
        self.logger = logger
        relay = OutboxRelay(bus: bus, database: database, transactions: transactions, logger: logger)
    }

    public func didBootAsync(_ application: Application) async throws {
        let relay = relay
        var started = [
            Task { await relay.run() },
            Task { [database, transactions, logger] in await Inbox.pruneRegularly(db: database, transactions: transactions, logger: logger) },
        ]
        for runner in runners {
            started.append(Task { [bus, database, logger] in
                await runner.run(bus: bus, db: database, logger: logger, afterCommit: { relay.wake() })
            })
        }
        tasks.withLock { $0 = started }
    }

    public func shutdownAsync(_ application: Application) async {
        let running = tasks.withLock { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
        // What was committed while stopping still goes out if the broker is there; otherwise it waits in the outbox.
        _ = try? await relay.relayOnce()
        await bus.close()
    }

    /// The broker's state for `/healthz`, from the client itself: asking costs no round trip, as a probe that calls
    /// often needs. It is no readiness check: while the broker is away the outbox keeps writes working, so taking the
    /// pods out of their Service then would turn a broker outage into a full one.
    var brokerState: String {
        bus.isConnected ? "connected" : "disconnected"
    }

    /// Sets `events_broker_connected` (1 or 0); `/metrics` calls it before each scrape, so the gauge is never stale.
    func recordBrokerState() {
        brokerGauge.record(bus.isConnected ? 1 : 0)
    }
}

extension Application {
    private struct ServiceEventsKey: StorageKey {
        typealias Value = ServiceEvents
    }

    /// The service's events; set by `useEvents`.
    public var events: ServiceEvents? {
        storage[ServiceEventsKey.self]
    }

    /// Adds the outbox and inbox tables, the relay and `listeners` to a service, on `bus` (an in-memory bus in unit
    /// tests) or on JetStream at `NATS_URL`. Call before `prepareDatabase`. The broker need not be up: the relay and
    /// the listeners wait for it, and `/healthz` and `/metrics` report it.
    public func useEvents(
        _ config: TicketingConfig, bus givenBus: (any EventBus)? = nil, listeners: [any Listener] = [], policy: ListenerPolicy = ListenerPolicy()
    ) async throws {
        migrations.add(CreateOutbox(), CreateInbox(), IndexInboxByAge(), CountEventTries())
        let bus: any EventBus
        if let given = givenBus {
            bus = given
        } else {
            bus = try await JetStreamBus.connect(
                urls: config.natsURL, name: config.service, replicas: config.streamReplicas, logger: logger
            )
        }
        let database: @Sendable () -> any Database = { [unowned self] in self.db }
        let events = ServiceEvents(
            bus: bus, runners: listeners.map { ListenerRunner($0, policy: policy, transactions: writeTransactions) },
            database: database, transactions: writeTransactions, logger: logger
        )
        storage[ServiceEventsKey.self] = events
        lifecycle.use(events)
    }
}

extension Request {
    /// Runs `body` in one transaction and, once it has committed, wakes the outbox relay to publish what it recorded.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        let result = try await application.writeTransactions.run(on: db, body)
        application.events?.relay.wake()
        return result
    }
}
