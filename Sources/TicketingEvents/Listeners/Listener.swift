import FluentKit

import Foundation
import Logging
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
    /// The transaction the event is applied in; the inbox row and the events the listener records commit with it.
    public let transaction: UnitOfWork.Transaction
    public let eventID: String
    public let deliveryCount: Int
    private let baseLogger: Logger

    /// The transaction's database, for the listener's own rows.
    public var db: any Database { transaction.db }

    /// Records events to publish once the event's transaction commits.
    public func record<E: Event>(_ events: [E]) async throws {
        try await transaction.record(events)
    }

    public func record<E: Event>(_ event: E) async throws {
        try await transaction.record(event)
    }

    /// Labelled with the event's id and subject. Built when used: setting metadata formats it, and most events
    /// log nothing.
    public var logger: Logger {
        baseLogger.labelled(event: eventID)
    }

    init(_ transaction: UnitOfWork.Transaction, eventID: String, deliveryCount: Int, logger: Logger) {
        self.transaction = transaction
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

extension Logger {
    func labelled(event eventID: String) -> Logger {
        var logger = self
        logger[metadataKey: "event-id"] = .string(eventID)
        return logger
    }
}
