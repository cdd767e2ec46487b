import FluentKit
import Foundation
import JetStream
import Logging
import Metrics
import Tracing

/// Runs one listener: pulls its durable consumer, applies each event exactly once through the inbox,
/// and dead-letters what keeps failing.
struct ListenerRunner: Sendable {
    let subject: Subject
    let consumer: ConsumerConfiguration
    let policy: ListenerPolicy
    let unitOfWork: UnitOfWork
    let handle: @Sendable (Data, ListenerContext) async throws -> ListenerOutcome
    private let counters: (applied: Counter, duplicate: Counter)

    init<L: Listener>(_ listener: L, policy: ListenerPolicy, unitOfWork: UnitOfWork) {
        subject = L.Payload.subject
        self.policy = policy
        self.unitOfWork = unitOfWork
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

    struct RetryLater: Error {}

    /// Applies one event in its own transaction: false when the inbox shows it was applied before.
    /// An early event throws `RetryLater`, so the transaction, its inbox row included, is rolled back.
    func apply(_ data: Data, id eventID: String, deliveryCount: Int, db: any Database, logger: Logger) async throws -> Bool {
        try await unitOfWork.run(on: db) { tx in
            guard try await Inbox.claim([eventID], subject: subject, on: tx.db).isEmpty == false else { return false }
            try await applyClaimed(data, id: eventID, deliveryCount: deliveryCount, in: tx, logger: logger)
            return true
        }
    }

    /// Runs the handler for an event whose inbox row the transaction has just written.
    func applyClaimed(_ data: Data, id eventID: String, deliveryCount: Int, in tx: UnitOfWork.Transaction, logger: Logger) async throws {
        let context = ListenerContext(tx, eventID: eventID, deliveryCount: deliveryCount, logger: logger)
        if try await handle(data, context) == .retryLater { throw RetryLater() }
    }

    /// Runs `body` in a span that continues the trace the message's publisher sent in its headers, so that what the
    /// listener writes and records belongs to the trace of the request that caused it.
    private func withProcessSpan<T>(
        _ message: any DeliveredMessage, tracer: any Tracer = InstrumentationSystem.tracer, _ body: (any Span) async throws -> T
    ) async throws -> T {
        var context = InstrumentationContext.current ?? .topLevel
        tracer.extract(message, into: &context, using: MessageHeaderExtractor())
        return try await tracer.withAnySpan("process \(subject.rawValue)", context: context, ofKind: .consumer) { span in
            span.attributes["messaging.message.id"] = message.messageID ?? ""
            span.attributes["messaging.destination.name"] = subject.rawValue
            return try await body(span)
        }
    }

    /// `base` doubled per delivery so far, at most the policy's cap.
    private func delay(_ base: Double, after deliveries: Int) -> Double {
        min(policy.failureBackoffCap, base * pow(2, Double(deliveries - 1)))
    }

    /// Applies one delivery and settles it with the broker.
    @discardableResult
    func process(_ message: any DeliveredMessage, db: any Database, logger base: Logger) async -> Result {
        guard let eventID = message.messageID, !eventID.isEmpty else {
            // Exactly once rests on the id: without one, a redelivery or a second publication would apply it again.
            // Every publisher here sets it (the outbox does), so this one came from elsewhere: a person decides. It
            // names no entity: it is no part of any entity's history, so it holds none up.
            let parkedAs = "no-id:\(subject.rawValue):\(message.streamSequence)"
            return await park(message, eventID: parkedAs, error: "published without a Nats-Msg-Id, so it cannot be applied exactly once",
                              entity: nil, db: db, logger: base.labelled(event: parkedAs))
        }
        do {
            let applied = try await withProcessSpan(message) { _ in
                try await apply(message.data, id: eventID, deliveryCount: message.deliveryCount, db: db, logger: base)
            }
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
    @discardableResult
    func process(batch messages: [any DeliveredMessage], db: any Database, logger: Logger) async -> [Result] {
        let ids = messages.compactMap(\.messageID).filter { !$0.isEmpty }
        guard messages.count > 1, ids.count == messages.count else {
            return await messages.asyncMap { await process($0, db: db, logger: logger) }
        }
        do {
            let applied = try await unitOfWork.run(on: db) { tx in
                // One inbox statement for the whole batch; an id delivered twice within it is applied once.
                var fresh = try await Inbox.claim(ids, subject: subject, on: tx.db)
                var applied: [Bool] = []
                for (message, id) in zip(messages, ids) {
                    guard fresh.remove(id) != nil else {
                        applied.append(false)
                        continue
                    }
                    try await withProcessSpan(message, tracer: tx.tracer) { span in
                        try await applyClaimed(message.data, id: id, deliveryCount: message.deliveryCount, in: tx.continuing(span.context), logger: logger)
                    }
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
            tries = try await unitOfWork.run(on: db) { tx in try await Inbox.countTry(eventID, subject: subject, early: early, on: tx.db) }
        } catch let countError {
            // Uncounted, so unparkable: it comes back, and is counted once the database answers.
            try? message.nak(delay: policy.failureBackoffCap / 10)
            logger.warning("could not count a failed event; will retry", metadata: ["error": "\(error)", "count-error": "\(countError)"])
            return .failed
        }
        let entity = subject.entity(in: message.data)
        if early, tries < policy.maxEarlyAttempts, let entity, (try? await Inbox.hasParked(before: entity, on: db)) == true {
            return await park(message, eventID: eventID, error: "an earlier event of \(entity.name) is parked, so this one can never apply",
                              entity: entity, db: db, logger: logger)
        }
        guard tries >= (early ? policy.maxEarlyAttempts : policy.maxAttempts) else {
            try? message.nak(delay: delay(early ? policy.retryLaterDelay : policy.failureBackoff, after: tries))
            if !early { logger.warning("event failed; will retry", metadata: ["error": "\(error)", "try": "\(tries)"]) }
            return early ? .retryLater : .failed
        }
        return await park(message, eventID: eventID, error: error, entity: entity, db: db, logger: logger)
    }

    /// Dead-letters the event, naming what it would have changed: that entity's later events cannot apply here
    /// until a person replays or fixes this one, so it must not freeze silently.
    private func park(
        _ message: any DeliveredMessage, eventID: String, error: String, entity: EventEntity?, db: any Database, logger: Logger
    ) async -> Result {
        do {
            try await unitOfWork.run(on: db) { tx in
                try await Inbox.deadLetter(eventID, subject: subject, payload: message.data, error: error,
                                           deliveries: message.deliveryCount, entity: entity, on: tx.db)
            }
            try message.term()
            Self.counter(subject, "dead_lettered").increment()
            await recordParked(db: db, logger: logger)
            logger.error("event dead-lettered: \(entity?.name ?? "its entity") stops changing here until it is replayed", metadata: [
                "error": "\(error)", "entity": "\(entity?.name ?? "none")", "deliveries": "\(message.deliveryCount)",
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

    /// `dead_letters`: how many of this subject's events this service holds dead-lettered, so that an entity
    /// frozen by one shows on a dashboard, not only in a log line.
    private func recordParked(db: any Database, logger: Logger) async {
        do {
            try await EventMetrics.recordDeadLetters(of: [subject], on: db)
        } catch {
            logger.warning("could not count parked events", metadata: ["error": "\(error)"])
        }
    }

    /// Consumes until the task is cancelled, resubscribing after broker outages.
    func run(bus: any EventBus, db: @escaping @Sendable () -> any Database, logger: Logger) async {
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
                    await process(batch: batch, db: db(), logger: logger)
                }
            } catch {
                if Task.isCancelled { break }
                await backoff.failed(error)
            }
        }
    }
}

extension Listener {
    /// Applies `event` once, as the service's runner applies a delivery (through the inbox, in one unit of work, an
    /// early event's writes rolled back), but from no broker: for tests and tools that feed a listener directly.
    public func apply(_ event: Payload, unitOfWork: UnitOfWork, db: any Database, logger: Logger) async throws -> ListenerOutcome {
        let runner = ListenerRunner(self, policy: ListenerPolicy(), unitOfWork: unitOfWork)
        do {
            _ = try await runner.apply(try event.encoded(), id: UUID().uuidString.lowercased(), deliveryCount: 1, db: db, logger: logger)
            return .done
        } catch is ListenerRunner.RetryLater {
            return .retryLater
        }
    }
}

/// Reads a delivered message's headers for the instrument, only the ones it asks for.
struct MessageHeaderExtractor: Extractor {
    func extract(key: String, from carrier: any DeliveredMessage) -> String? {
        carrier.header(key)
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
