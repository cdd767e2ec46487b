import Foundation
import JetStream
import Logging
import Metrics
import SQLKit

/// What a listener decides about an event it could not apply yet.
public enum ListenerOutcome: Sendable, Equatable {
    /// Applied (or deliberately ignored): acknowledge.
    case done
    /// Arrived too early (for example version n+2 before n+1): ask for it again shortly. Nothing the listener
    /// wrote for this event is kept.
    case retryLater
}

extension ListenerOutcome {
    /// For a replica row that an event updates only on top of the version just before its own: once that update has
    /// matched nothing, the event is `.done` when `table` already holds `id` at its version or later (a repeated or
    /// old event, dropped) and `.retryLater` when the row is behind or not there yet (an early one).
    public static func afterMissedUpdate(of table: String, id: String, version: Int, on db: any Database) async throws -> ListenerOutcome {
        let current = try await db.sql.raw("SELECT version FROM \(ident: table) WHERE id = \(bind: id)")
            .first()?.decode(column: "version", as: Int.self)
        guard let current, version <= current else { return .retryLater }
        return .done
    }
}

/// Handed to a listener with each event.
public struct ListenerContext: Sendable {
    /// The transaction the event is applied in; the inbox row and any outbox rows commit with it.
    public let db: any Database
    public let eventID: String
    public let deliveryCount: Int
    private let baseLogger: Logger

    /// Labelled with the event's id and subject. Built when used: setting metadata formats it, and most events
    /// log nothing.
    public var logger: Logger {
        baseLogger.labelled(event: eventID)
    }

    public init(db: any Database, eventID: String, deliveryCount: Int = 1, logger: Logger) {
        self.db = db
        self.eventID = eventID
        self.deliveryCount = deliveryCount
        baseLogger = logger
    }
}

/// One handler for one subject, like the seed's `Listener` base class: a subject (from the payload type),
/// a queue group, and `onMessage`. Returning acknowledges; throwing retries, and parks the event after the last try.
public protocol Listener: Sendable {
    associatedtype Payload: Event
    var queueGroup: String { get }
    func onMessage(_ event: Payload, context: ListenerContext) async throws -> ListenerOutcome
}

/// Delivery limits every listener shares. Tries are the service's own count of an event's failures (in
/// `event_attempts`), not the broker's count of its deliveries: a delivery that met the database or the broker away,
/// or that was never settled, is not the event's fault and does not bring it closer to being parked.
public struct ListenerPolicy: Sendable {
    /// Tries before an event that keeps failing is dead-lettered.
    public var maxAttempts = 5
    /// Tries before an event that keeps arriving early is dead-lettered: its predecessor may be delayed by an
    /// outage elsewhere, so it waits far longer (with the backoff below, tens of minutes) than a failing event.
    /// It is parked at once when an earlier event of the same entity is parked: that one is not coming.
    public var maxEarlyAttempts = 60
    public var ackWaitSeconds: Double = 30
    public var maxAckPending = 1_000
    /// Delay before an early (out-of-order) event is offered again: doubled per delivery up to the cap below.
    public var retryLaterDelay: Double = 0.1
    /// Delay before a failed event is tried again: doubled per attempt up to the cap.
    public var failureBackoff: Double = 0.2
    public var failureBackoffCap: Double = 30

    public init() {}
}

/// Runs one listener: pulls its durable consumer, applies each event exactly once through the inbox,
/// and dead-letters what keeps failing.
struct ListenerRunner: Sendable {
    let subject: Subject
    let consumer: ConsumerConfiguration
    let policy: ListenerPolicy
    let transactions: WriteTransactions
    let handle: @Sendable (Data, ListenerContext) async throws -> ListenerOutcome
    private let counters: (applied: Counter, duplicate: Counter)

    init<L: Listener>(_ listener: L, policy: ListenerPolicy, transactions: WriteTransactions) {
        subject = L.Payload.subject
        self.policy = policy
        self.transactions = transactions
        consumer = ConsumerConfiguration(
            durable: ConsumerConfiguration.durableName(group: listener.queueGroup, subject: L.Payload.subject.rawValue),
            subject: L.Payload.subject.rawValue,
            ackWaitSeconds: policy.ackWaitSeconds,
            // The server never gives up on a message (-1): the runner parks it itself, and only once that is recorded.
            maxDeliver: -1,
            maxAckPending: policy.maxAckPending
        )
        counters = (Self.counter(subject, "applied"), Self.counter(subject, "duplicate"))
        handle = { data, context in
            try await listener.onMessage(JSONDecoder().decode(L.Payload.self, from: data), context: context)
        }
    }

    enum Result: Equatable {
        case applied, duplicate, retryLater, failed, deadLettered
    }

    private struct RetryLater: Error {}

    /// Applies one event inside the caller's transaction: false when the inbox shows it was applied before.
    /// An early event throws `RetryLater`, so the transaction, its inbox row included, is rolled back.
    private func apply(_ message: any DeliveredMessage, id eventID: String, on tx: any Database, logger: Logger) async throws -> Bool {
        guard try await Inbox.claim([eventID], subject: subject, on: tx).isEmpty == false else { return false }
        try await applyClaimed(message, id: eventID, on: tx, logger: logger)
        return true
    }

    /// Runs the handler for an event whose inbox row the transaction has just written.
    private func applyClaimed(_ message: any DeliveredMessage, id eventID: String, on tx: any Database, logger: Logger) async throws {
        let context = ListenerContext(db: tx, eventID: eventID, deliveryCount: message.deliveryCount, logger: logger)
        if try await handle(message.data, context) == .retryLater { throw RetryLater() }
    }

    /// `base` doubled per delivery so far, at most the policy's cap.
    private func delay(_ base: Double, after deliveries: Int) -> Double {
        min(policy.failureBackoffCap, base * pow(2, Double(deliveries - 1)))
    }

    /// Applies one delivery and settles it with the broker.
    @discardableResult
    func process(_ message: any DeliveredMessage, db: any Database, logger base: Logger) async -> Result {
        guard let eventID = message.messageID else {
            // Exactly once rests on the id: without one, a redelivery or a second publication would apply it again.
            // Every publisher here sets it (the outbox does), so this one came from elsewhere: a person decides.
            let parkedAs = "no-id:\(subject.rawValue):\(message.streamSequence)"
            return await park(message, eventID: parkedAs, error: "published without a Nats-Msg-Id, so it cannot be applied exactly once",
                              db: db, logger: base.labelled(event: parkedAs))
        }
        do {
            let applied = try await transactions.run(on: db) { tx in try await apply(message, id: eventID, on: tx, logger: base) }
            try message.ack()
            (applied ? counters.applied : counters.duplicate).increment()
            return applied ? .applied : .duplicate
        } catch is RetryLater {
            return await giveUpOrRetry(message, eventID: eventID, error: "arrived out of order and its predecessor never came",
                                       db: db, logger: base.labelled(event: eventID), early: true)
        } catch {
            let logger = base.labelled(event: eventID)
            if DatabaseAvailability.isUnavailable(error) {
                // Not the event's fault: try again later without counting towards parking it.
                try? message.nak(delay: policy.failureBackoffCap / 10)
                logger.warning("database unavailable; event will be retried", metadata: ["error": "\(error)"])
                return .failed
            }
            return await giveUpOrRetry(message, eventID: eventID, error: String(reflecting: error), db: db, logger: logger, early: false)
        }
    }

    /// Applies a fetched batch in one transaction, which on SQLite is one commit instead of one per event.
    /// If any event in it fails or arrives early, nothing of the batch is kept and each event is processed
    /// on its own, so the others still go through and the failing one follows the usual retry rules.
    func process(batch messages: [any DeliveredMessage], db: any Database, logger: Logger) async -> [Result] {
        let ids = messages.compactMap(\.messageID)
        guard messages.count > 1, ids.count == messages.count else {
            return await messages.asyncMap { await process($0, db: db, logger: logger) }
        }
        do {
            let applied = try await transactions.run(on: db) { tx in
                // One inbox statement for the whole batch; an id delivered twice within it is applied once.
                var fresh = try await Inbox.claim(ids, subject: subject, on: tx)
                var applied: [Bool] = []
                for (message, id) in zip(messages, ids) {
                    guard fresh.remove(id) != nil else {
                        applied.append(false)
                        continue
                    }
                    try await applyClaimed(message, id: id, on: tx, logger: logger)
                    applied.append(true)
                }
                return applied
            }
            for message in messages { try? message.ack() }
            let appliedCount = applied.filter { $0 }.count
            counters.applied.increment(by: appliedCount)
            counters.duplicate.increment(by: applied.count - appliedCount)
            return applied.map { $0 ? .applied : .duplicate }
        } catch {
            return await messages.asyncMap { await process($0, db: db, logger: logger) }
        }
    }

    /// Counts a failed or early try of the event (in its own transaction: the event's own was rolled back) and asks for
    /// it again after its backoff, or parks it once it has had its tries.
    private func giveUpOrRetry(
        _ message: any DeliveredMessage, eventID: String, error: String, db: any Database, logger: Logger, early: Bool
    ) async -> Result {
        let tries: Int
        do {
            tries = try await transactions.run(on: db) { tx in try await Inbox.countTry(eventID, subject: subject, early: early, on: tx) }
        } catch let countError {
            // Uncounted, so unparkable: it comes back, and is counted once the database answers.
            try? message.nak(delay: policy.failureBackoffCap / 10)
            logger.warning("could not count a failed event; will retry", metadata: ["error": "\(error)", "count-error": "\(countError)"])
            return .failed
        }
        let entity = subject.entity(in: message.data)
        if early, tries < policy.maxEarlyAttempts, let entity, (try? await Inbox.hasParked(entity, on: db)) == true {
            return await park(message, eventID: eventID, error: "an earlier event of \(entity) is parked, so this one can never apply",
                              db: db, logger: logger)
        }
        guard tries >= (early ? policy.maxEarlyAttempts : policy.maxAttempts) else {
            try? message.nak(delay: delay(early ? policy.retryLaterDelay : policy.failureBackoff, after: tries))
            if !early { logger.warning("event failed; will retry", metadata: ["error": "\(error)", "try": "\(tries)"]) }
            return early ? .retryLater : .failed
        }
        return await park(message, eventID: eventID, error: error, db: db, logger: logger)
    }

    /// Dead-letters the event, naming what it would have changed: that entity's later events cannot apply here
    /// until a person replays or fixes this one, so it must not freeze silently.
    private func park(_ message: any DeliveredMessage, eventID: String, error: String, db: any Database, logger: Logger) async -> Result {
        let entity = subject.entity(in: message.data)
        do {
            try await transactions.run(on: db) { tx in
                try await Inbox.deadLetter(eventID, subject: subject, payload: message.data, error: error,
                                           deliveries: message.deliveryCount, entity: entity, on: tx)
            }
            try message.term()
            Self.counter(subject, "dead_lettered").increment()
            await recordParked(db: db, logger: logger)
            logger.error("event dead-lettered: \(entity ?? "its entity") stops changing here until it is replayed", metadata: [
                "error": "\(error)", "entity": "\(entity ?? "unknown")", "deliveries": "\(message.deliveryCount)",
            ])
            return .deadLettered
        } catch let recordError {
            // Parking failed, so the event must not be dropped: it comes back later.
            try? message.nak(delay: policy.failureBackoffCap)
            logger.error("could not dead-letter event; will retry", metadata: ["error": "\(recordError)"])
            return .failed
        }
    }

    static func counter(_ subject: Subject, _ outcome: String) -> Counter {
        Counter(label: "events_handled_total", dimensions: [("subject", subject.rawValue), ("outcome", outcome)])
    }

    /// `events_parked`: how many of this subject's events this service holds dead-lettered, so that an entity
    /// frozen by one shows on a dashboard, not only in a log line.
    private func recordParked(db: any Database, logger: Logger) async {
        do {
            let parked = try await Inbox.parkedCount(subject: subject, on: db)
            Gauge(label: "events_parked", dimensions: [("subject", subject.rawValue)]).record(parked)
        } catch {
            logger.warning("could not count parked events", metadata: ["error": "\(error)"])
        }
    }

    /// Consumes until the task is cancelled, resubscribing after broker outages. `afterCommit` runs after a batch
    /// whose handlers recorded events.
    func run(bus: any EventBus, db: @escaping @Sendable () -> any Database, logger: Logger, afterCommit: @escaping @Sendable () -> Void) async {
        var logger = logger
        logger[metadataKey: "subject"] = .string(subject.rawValue)
        await recordParked(db: db(), logger: logger)
        var backoff = Backoff(logger: logger, waiting: "listener waiting for the broker", metadata: ["durable": "\(consumer.durable)"])
        while !Task.isCancelled {
            do {
                try await bus.prepare()
                let source = try await bus.subscribe(consumer)
                backoff.succeeded()
                while !Task.isCancelled {
                    let batch = try await source.fetch(batch: 64, timeout: 1)
                    if batch.isEmpty { continue }
                    let recording = Outbox.Recording()
                    let results = await Outbox.$recording.withValue(recording) { await process(batch: batch, db: db(), logger: logger) }
                    if recording.any, results.contains(.applied) { afterCommit() }
                }
            } catch {
                if Task.isCancelled { break }
                await backoff.failed(error)
            }
        }
    }
}

/// Which events this service has applied (so a redelivery changes nothing), and which it gave up on.
public enum Inbox {
    /// Records the events as applied in the caller's transaction; returns the ids that were not recorded before.
    static func claim(_ eventIDs: [String], subject: Subject, on db: any Database) async throws -> Set<String> {
        let now = Date()
        let rows = SQLList(Set(eventIDs).map { SQLGroupExpression([SQLBind($0), SQLBind(subject.rawValue), SQLBind(now)]) })
        return try await Set(db.sql.raw("""
            INSERT INTO inbox (event_id, subject, received_at) VALUES \(rows)
            ON CONFLICT (event_id) DO NOTHING RETURNING event_id
            """).all().map { try $0.decode(column: "event_id", as: String.self) })
    }

    /// How long an applied event's id is kept. A redelivery is only possible while the event is in the stream, which
    /// drops events after its maximum age; a day more covers clock differences and a listener that was stopped.
    public static let retention = TimeInterval(StreamConfiguration(name: JetStreamBus.streamName, subjects: []).maxAgeSeconds) + 86_400

    /// Forgets applied events recorded before `cutoff`, `chunk` rows per statement so other writers get their turn in
    /// between; returns how many it forgot.
    @discardableResult
    public static func prune(before cutoff: Date, on db: any Database, transactions: WriteTransactions, chunk: Int = 1_000) async throws -> Int {
        var forgotten = 0
        while !Task.isCancelled {
            let deleted = try await transactions.runStatement(on: db) { db in
                try await db.sql.raw("""
                    DELETE FROM inbox WHERE event_id IN (
                        SELECT event_id FROM inbox WHERE received_at < \(bind: cutoff) LIMIT \(unsafeRaw: String(chunk))
                    ) RETURNING event_id
                    """).all().count
            }
            forgotten += deleted
            if deleted < chunk { break }
        }
        // The tries of events since applied or parked; one that still fails gets its count anew, which only delays it.
        try await transactions.runStatement(on: db) { db in
            try await db.sql.raw("DELETE FROM event_attempts WHERE updated_at < \(bind: cutoff)").run()
        }
        return forgotten
    }

    /// Prunes what has outlived `retention` now and then every `interval` seconds, until the task is cancelled.
    static func pruneRegularly(db: @escaping @Sendable () -> any Database, transactions: WriteTransactions, logger: Logger,
                               interval: Double = 3_600) async {
        await repeatEvery(interval, logger: logger, failure: "pruning the inbox failed; will retry") {
            let forgotten = try await prune(before: Date().addingTimeInterval(-retention), on: db(), transactions: transactions)
            if forgotten > 0 { logger.info("forgot applied events past the stream's retention", metadata: ["count": "\(forgotten)"]) }
        }
    }

    static func deadLetter(
        _ eventID: String, subject: Subject, payload: Data, error: String, deliveries: Int, entity: String?, on db: any Database
    ) async throws {
        try await db.sql.raw("""
            INSERT INTO dead_letters (event_id, subject, payload, error, deliveries, entity, created_at)
            VALUES (\(bind: eventID), \(bind: subject.rawValue), \(bind: String(decoding: payload, as: UTF8.self)),
                    \(bind: String(error.prefix(4_000))), \(bind: deliveries), \(bind: entity), \(bind: Date()))
            ON CONFLICT (event_id) DO NOTHING
            """).run()
    }

    static func hasParked(_ entity: String, on db: any Database) async throws -> Bool {
        try await db.sql.raw("SELECT 1 AS parked FROM dead_letters WHERE entity = \(bind: entity) LIMIT 1").first() != nil
    }

    static func parkedCount(subject: Subject, on db: any Database) async throws -> Int {
        try await db.sql.raw("SELECT COUNT(*) AS parked FROM dead_letters WHERE subject = \(bind: subject.rawValue)")
            .first()?.decode(column: "parked", as: Int.self) ?? 0
    }

    /// Counts one more failed (or early) try of the event; returns the tries so far of that kind.
    static func countTry(_ eventID: String, subject: Subject, early: Bool, on db: any Database) async throws -> Int {
        let column = early ? "early" : "failures"
        return try await db.sql.raw("""
            INSERT INTO event_attempts (event_id, subject, failures, early, updated_at)
            VALUES (\(bind: eventID), \(bind: subject.rawValue), \(bind: early ? 0 : 1), \(bind: early ? 1 : 0), \(bind: Date()))
            ON CONFLICT (event_id) DO UPDATE SET \(ident: column) = event_attempts.\(ident: column) + 1, updated_at = excluded.updated_at
            RETURNING \(ident: column) AS tries
            """).first()?.decode(column: "tries", as: Int.self) ?? 1
    }

    /// The parked events, newest first, for operators (and tests).
    public static func deadLetters(on db: any Database) async throws -> [DeadLetter] {
        try await db.sql.raw("SELECT event_id, subject, payload, error, deliveries FROM dead_letters ORDER BY created_at DESC")
            .all(decoding: DeadLetter.self)
    }
}

public struct DeadLetter: Codable, Sendable, Equatable {
    public var event_id: String
    public var subject: String
    public var payload: String
    public var error: String
    public var deliveries: Int
}

struct CreateInbox: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("inbox")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("received_at", .datetime, .required)
            .create()
        try await database.schema("dead_letters")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("payload", .string, .required)
            .field("error", .string, .required)
            .field("deliveries", .int, .required)
            .field("created_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("dead_letters").delete()
        try await database.schema("inbox").delete()
    }
}

/// Each event's own count of failed and early tries, and the entity a parked event names.
struct CountEventTries: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("event_attempts")
            .field("event_id", .string, .identifier(auto: false))
            .field("subject", .string, .required)
            .field("failures", .int, .required)
            .field("early", .int, .required)
            .field("updated_at", .datetime, .required)
            .create()
        try await database.schema("dead_letters").field("entity", .string).update()
        try await database.sql.create(index: "dead_letters_entity").on("dead_letters").column("entity").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.drop(index: "dead_letters_entity").run()
        try await database.schema("dead_letters").deleteField("entity").update()
        try await database.schema("event_attempts").delete()
    }
}

/// Lets the inbox be pruned by age without reading all of it.
struct IndexInboxByAge: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.sql.create(index: "inbox_received_at").on("inbox").column("received_at").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.drop(index: "inbox_received_at").run()
    }
}

extension Logger {
    fileprivate func labelled(event eventID: String) -> Logger {
        var logger = self
        logger[metadataKey: "event-id"] = .string(eventID)
        return logger
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var results: [T] = []
        results.reserveCapacity(count)
        for element in self { results.append(await transform(element)) }
        return results
    }
}
