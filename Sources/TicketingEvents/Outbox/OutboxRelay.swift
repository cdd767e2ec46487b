import Foundation
import FluentKit
import SQLKit

import JetStream
import Logging
import Metrics
import Tracing

/// Publishes outbox rows in order and deletes them once the broker has stored them. It wakes when a transaction
/// that recorded events commits, and polls in case another process wrote them. While the broker is down rows
/// simply wait; requests that write events keep succeeding.
///
/// Several replicas may relay the same rows at once: the broker drops an event id it already has, and consumers
/// drop an event id they already applied, so a row published twice still takes effect once.
public final class OutboxRelay: Sendable {
    let bus: any EventBus
    let database: @Sendable () -> any Database
    let logger: Logger
    let batchSize: Int
    let pollInterval: Double
    private let signal = WakeSignal()
    private let published = Counter(label: "events_published_total")

    let transactions: WriteTransactions

    public init(
        bus: any EventBus, database: @escaping @Sendable () -> any Database, transactions: WriteTransactions, logger: Logger,
        batchSize: Int = 256, pollInterval: Double = 1
    ) {
        self.bus = bus
        self.database = database
        self.transactions = transactions
        self.logger = logger
        self.batchSize = batchSize
        self.pollInterval = pollInterval
    }

    /// Asks the relay to look at the outbox now rather than at its next poll; the unit of work calls it on commit.
    func wake() {
        signal.signal()
    }

    /// Relays until the task is cancelled, backing off while the broker or the database is unavailable.
    public func run() async {
        var backoff = Backoff(logger: logger, waiting: "outbox relay waiting for the broker")
        // A service that only publishes must still create the stream on a fresh broker.
        try? await bus.prepare()
        while !Task.isCancelled {
            do {
                let relayed = try await relayOnce()
                backoff.succeeded()
                if relayed == batchSize { continue }
                await signal.wait(timeout: pollInterval)
            } catch {
                if Task.isCancelled { break }
                await backoff.failed(error)
                // The broker may have come back empty (a new node, a lost store): recreate the stream before retrying.
                try? await bus.prepare()
            }
        }
    }

    /// Publishes the oldest unsent rows once; returns how many went out.
    @discardableResult
    public func relayOnce() async throws -> Int {
        let db = database()
        let rows = try await db.sql.raw("""
            SELECT seq, event_id, subject, payload, trace_context FROM outbox ORDER BY seq LIMIT \(unsafeRaw: String(batchSize))
            """).all()
        guard !rows.isEmpty else { return 0 }
        var sequences: [Int64] = []
        var messages: [OutgoingMessage] = []
        // Each event's publication continues the trace that recorded it, and its headers carry that trace on.
        var spans: [any Span] = []
        defer { for span in spans { span.end() } }
        for row in rows {
            sequences.append(try row.decode(column: "seq", as: Int64.self))
            let subject = try row.decode(column: "subject", as: String.self)
            let recorded = TraceHeaders.headers(column: try row.decode(column: "trace_context", as: String?.self))
            let span = startSpan("publish \(subject)", context: TraceHeaders.context(from: recorded), ofKind: .producer)
            spans.append(span)
            messages.append(OutgoingMessage(
                subject: subject,
                id: try row.decode(column: "event_id", as: String.self),
                data: Data(try row.decode(column: "payload", as: String.self).utf8),
                headers: TraceHeaders.of(span.context)
            ))
        }
        do {
            try await bus.publish(messages)
        } catch {
            for span in spans { span.recordError(error) }
            throw error
        }
        let sent = sequences
        try await transactions.runStatement(on: db) { db in
            try await db.sql.delete(from: "outbox").where("seq", .in, sent).run()
        }
        published.increment(by: messages.count)
        return messages.count
    }
}
