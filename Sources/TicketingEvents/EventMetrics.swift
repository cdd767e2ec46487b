import FluentKit
import Foundation
import Metrics
import SQLKit

/// The gauges that say what is stuck, sampled when `/metrics` is scraped (names as dashboards and alert rules use
/// them): the outbox's backlog and the age of its oldest row, each durable consumer's pending events, and the
/// dead letters per subject.
enum EventMetrics {
    static func recordOutbox(on db: any Database) async throws {
        let backlog = try await OutboxBacklog.read(on: db)
        Gauge(label: "outbox_pending_events").record(backlog.pending)
        Gauge(label: "outbox_oldest_event_age_seconds").record(backlog.oldestAgeSeconds)
    }

    static func recordDeadLetters(of subjects: [Subject], on db: any Database) async throws {
        for (subject, parked) in try await Inbox.parkedCounts(of: subjects, on: db) {
            Gauge(label: "dead_letters", dimensions: [("subject", subject.rawValue)]).record(parked)
        }
    }

    /// One call to the broker for all of them; only this service's durables are recorded.
    static func recordConsumers(_ durables: [String], bus: any EventBus) async throws {
        let states = try await bus.consumerStates()
        for durable in durables {
            guard let state = states[durable] else { continue }
            Gauge(label: "consumer_pending_events", dimensions: [("consumer", durable)]).record(Double(state.pending))
            Gauge(label: "consumer_unacknowledged_events", dimensions: [("consumer", durable)]).record(state.waitingForAck)
        }
    }
}

/// Events a service committed and has not published yet, and how long the oldest has waited.
public struct OutboxBacklog: Codable, Sendable, Equatable {
    public var pending: Int
    public var oldestAgeSeconds: Double

    public static func read(on db: any Database, now: Date = Date()) async throws -> OutboxBacklog {
        let row = try await db.sql.raw("SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox").first()
        let oldest = try row?.decode(column: "oldest", as: Date?.self)
        return OutboxBacklog(pending: try row?.decode(column: "pending", as: Int.self) ?? 0,
                             oldestAgeSeconds: oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }
}
