import FluentKit
import Foundation
import Metrics
import SQLKit

/// The gauges that say what is stuck, sampled when `/metrics` is scraped (names as dashboards and alert rules use
/// them): the outbox's backlog and the age of its oldest row, each durable consumer's pending events, and the
/// dead letters per subject.
enum EventMetrics {
    static func recordOutbox(on db: any Database, now: Date = Date()) async throws {
        let row = try await db.sql.raw("SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox").first()
        let pending = try row?.decode(column: "pending", as: Int.self) ?? 0
        let oldest = try row?.decode(column: "oldest", as: Date?.self)
        Gauge(label: "outbox_pending_events").record(pending)
        Gauge(label: "outbox_oldest_event_age_seconds").record(oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }

    static func recordDeadLetters(of subject: Subject, on db: any Database) async throws {
        Gauge(label: "dead_letters", dimensions: [("subject", subject.rawValue)]).record(try await Inbox.parkedCount(subject: subject, on: db))
    }

    static func recordConsumer(_ durable: String, bus: any EventBus) async throws {
        guard let state = try await bus.consumerState(durable: durable) else { return }
        Gauge(label: "consumer_pending_events", dimensions: [("consumer", durable)]).record(Double(state.pending))
        Gauge(label: "consumer_unacknowledged_events", dimensions: [("consumer", durable)]).record(state.waitingForAck)
    }
}
