import FluentKit
import Foundation
import Logging
import SQLKit

/// The operators' hands on parked events (`ticketing dead-letters`): list them, show one, replay one or all through
/// the listener that parked them, or discard one.
///
/// A replay applies the event as its listener would, inbox guard included (an event applied meanwhile is not applied
/// again), and deletes its row in the same transaction; the events it records wait in the outbox for the running
/// service's relay, which polls it. Replaying all goes entity by entity in version order, so a frozen entity thaws
/// from its first parked version on; a version whose predecessor is still missing stays parked, as `early`.
public struct DeadLetterDesk: Sendable {
    public enum Outcome: String, Codable, Sendable {
        case applied
        /// The inbox shows it applied before (a replay of a replay): only its row was removed.
        case alreadyApplied = "already-applied"
        /// Its listener still finds an earlier event of its entity missing: it stays parked.
        case early
        /// Its listener failed again: it stays parked.
        case failed
        case notFound = "not-found"
    }

    public struct Replayed: Codable, Sendable, Equatable {
        public var eventId: String
        public var outcome: Outcome
        public var error: String?

        public init(eventId: String, outcome: Outcome, error: String? = nil) {
            self.eventId = eventId
            self.outcome = outcome
            self.error = error
        }
    }

    let runners: [Subject: ListenerRunner]
    let unitOfWork: UnitOfWork
    let db: any Database
    let logger: Logger

    public init(listeners: [any Listener], unitOfWork: UnitOfWork, db: any Database, logger: Logger) {
        var runners: [Subject: ListenerRunner] = [:]
        for listener in listeners {
            let runner = ListenerRunner(listener, policy: ListenerPolicy(), unitOfWork: unitOfWork)
            runners[runner.subject] = runner
        }
        self.runners = runners
        self.unitOfWork = unitOfWork
        self.db = db
        self.logger = logger
    }

    /// The parked events, oldest first.
    public func list() async throws -> [DeadLetter] {
        try await Inbox.deadLetters(on: db).reversed()
    }

    public func show(_ eventID: String) async throws -> DeadLetter? {
        try await Inbox.deadLetter(eventID, on: db)
    }

    public func replay(_ eventID: String) async throws -> Replayed {
        guard let letter = try await show(eventID) else { return Replayed(eventId: eventID, outcome: .notFound) }
        guard let subject = Subject(rawValue: letter.subject), let runner = runners[subject] else {
            return Replayed(eventId: eventID, outcome: .failed, error: "this service has no listener for \(letter.subject)")
        }
        do {
            let applied = try await unitOfWork.run(on: db) { tx in
                let fresh = try await !Inbox.claim([eventID], subject: subject, on: tx.db).isEmpty
                if fresh {
                    try await runner.applyClaimed(Data(letter.payload.utf8), id: eventID, deliveryCount: letter.deliveries + 1, in: tx, logger: logger)
                }
                try await Inbox.forgetParked(eventID, on: tx.db)
                return fresh
            }
            logger.notice("dead letter replayed", metadata: ["event-id": "\(eventID)", "applied": "\(applied)"])
            return Replayed(eventId: eventID, outcome: applied ? .applied : .alreadyApplied)
        } catch is ListenerRunner.RetryLater {
            return Replayed(eventId: eventID, outcome: .early, error: "an earlier event of \(letter.entity ?? "its entity") has not been applied")
        } catch {
            return Replayed(eventId: eventID, outcome: .failed, error: String(describing: error))
        }
    }

    /// Replays every parked event, entity by entity: each entity's versions in order, then its unversioned events
    /// (a payment, an expiry), which were parked behind them. Events still early are tried again as long as a pass
    /// applies something.
    public func replayAll() async throws -> [Replayed] {
        let ids = try await db.sql.raw("""
            SELECT event_id FROM dead_letters
            ORDER BY COALESCE(entity, ''), CASE WHEN version IS NULL THEN 1 ELSE 0 END, version, created_at, event_id
            """).all().map { try $0.decode(column: "event_id", as: String.self) }
        var outcomes: [String: Replayed] = [:]
        var pending = ids
        while !pending.isEmpty {
            var early: [String] = []
            for id in pending {
                let replayed = try await replay(id)
                outcomes[id] = replayed
                if replayed.outcome == .early { early.append(id) }
            }
            let appliedSome = pending.contains { outcomes[$0]?.outcome == .applied }
            guard appliedSome, early.count < pending.count else { break }
            pending = early
        }
        return ids.compactMap { outcomes[$0] }
    }

    /// Deletes the parked event without applying it; false if there was none. Its entity's later versions are no
    /// longer held up by it.
    public func discard(_ eventID: String) async throws -> Bool {
        guard try await show(eventID) != nil else { return false }
        try await unitOfWork.statement(on: db) { db in try await Inbox.forgetParked(eventID, on: db) }
        logger.notice("dead letter discarded", metadata: ["event-id": "\(eventID)"])
        return true
    }
}
