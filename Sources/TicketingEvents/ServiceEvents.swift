import FluentKit
import JetStream
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// A service's event machinery: the bus, the outbox relay and the unit of work that wakes it. `running(listeners:)`
/// is the background service that relays, consumes and prunes for as long as the service runs.
public final class ServiceEvents: Sendable {
    public let bus: any EventBus
    /// How this service writes a change and its events (see `UnitOfWork`).
    public let unitOfWork: UnitOfWork
    let relay: OutboxRelay
    let database: @Sendable () -> any Database
    let transactions: WriteTransactions
    let logger: Logger
    private let brokerGauge = Gauge(label: "events_broker_connected")
    /// The durable consumers and subjects of the listeners `running(listeners:)` was given, for the gauges.
    private let consumed = Mutex<[(durable: String, subject: Subject)]>([])

    /// The tables the machinery keeps in every service's database that has events.
    public static var migrations: [any Migration] {
        [CreateOutbox(), CreateInbox(), IndexInboxByAge(), CountEventTries(), AddOutboxTraceContext()]
    }

    public init(
        bus: any EventBus, database: @escaping @Sendable () -> any Database, transactions: WriteTransactions, logger: Logger,
        pollInterval: Double = 1
    ) {
        self.bus = bus
        self.database = database
        self.transactions = transactions
        self.logger = logger
        let relay = OutboxRelay(bus: bus, database: database, transactions: transactions, logger: logger, pollInterval: pollInterval)
        self.relay = relay
        unitOfWork = UnitOfWork(transactions: transactions) { relay.wake() }
    }

    /// Connects to JetStream at `urls`; the broker need not be up: the relay and the listeners wait for it.
    public static func connect(
        urls: String, name: String, replicas: Int, database: @escaping @Sendable () -> any Database,
        transactions: WriteTransactions, logger: Logger, pollInterval: Double = 1
    ) async throws -> ServiceEvents {
        let bus = try await JetStreamBus.connect(urls: urls, name: name, replicas: replicas, logger: logger)
        return ServiceEvents(bus: bus, database: database, transactions: transactions, logger: logger, pollInterval: pollInterval)
    }

    /// The relay, `listeners` and the inbox's pruning as one background service. On graceful shutdown the listeners
    /// stop first, then a last relay pass publishes what was committed meanwhile, then the connection closes.
    public func running(listeners: [any Listener], policy: ListenerPolicy = ListenerPolicy()) -> some Service {
        let runners = listeners.map { ListenerRunner($0, policy: policy, unitOfWork: unitOfWork) }
        consumed.withLock { $0 = runners.map { ($0.consumer.durable, $0.subject) } }
        return Running(events: self, runners: runners)
    }

    private struct Running: Service {
        let events: ServiceEvents
        let runners: [ListenerRunner]

        func run() async throws {
            let (relay, bus, database, transactions, logger) = (events.relay, events.bus, events.database, events.transactions, events.logger)
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await relay.run() }
                    group.addTask { await Inbox.pruneRegularly(db: database, transactions: transactions, logger: logger) }
                    for runner in runners {
                        group.addTask { await runner.run(bus: bus, db: database, logger: logger) }
                    }
                }
            }
            // What was committed while stopping still goes out if the broker is there; otherwise it waits in the outbox.
            _ = try? await relay.relayOnce()
            await bus.close()
        }
    }

    /// The broker's state for `/healthz`, from the client itself: asking costs no round trip, as a probe that calls
    /// often needs. It is no readiness check: while the broker is away the outbox keeps writes working, so taking the
    /// pods out of their Service then would turn a broker outage into a full one.
    public var brokerState: String {
        bus.isConnected ? "connected" : "disconnected"
    }

    /// Sets `events_broker_connected` (1 or 0); `/metrics` calls it before each scrape, so the gauge is never stale.
    public func recordBrokerState() {
        brokerGauge.record(bus.isConnected ? 1 : 0)
    }

    /// Samples the backlog gauges before a scrape: `outbox_pending_events`, `outbox_oldest_event_age_seconds`,
    /// `dead_letters{subject}` and `consumer_pending_events{consumer}`. A part whose source does not answer (the
    /// database or the broker away) keeps its last value and is logged; the scrape still answers.
    public func recordBacklog() async {
        let db = database()
        let consumed = consumed.withLock { $0 }
        await sample("outbox") { try await EventMetrics.recordOutbox(on: db) }
        await sample("dead letters") { try await EventMetrics.recordDeadLetters(of: consumed.map(\.subject), on: db) }
        if bus.isConnected { await sample("consumers") { try await EventMetrics.recordConsumers(consumed.map(\.durable), bus: self.bus) } }
    }

    private func sample(_ what: String, _ body: () async throws -> Void) async {
        do { try await body() } catch { logger.warning("could not sample a metric", metadata: ["metric": "\(what)", "error": "\(error)"]) }
    }
}

/// How a service's events run: its listeners' delivery limits, and how often the relay looks at the outbox when no
/// commit woke it (for rows another process wrote).
public struct EventTuning: Sendable {
    public var listeners = ListenerPolicy()
    public var relayPollInterval: Double = 1

    public init(listeners: ListenerPolicy = ListenerPolicy(), relayPollInterval: Double = 1) {
        self.listeners = listeners
        self.relayPollInterval = relayPollInterval
    }
}
