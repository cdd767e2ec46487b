import Foundation
import SQLKit
import Synchronization
import TicketingCore

/// Writes reservations that arrive together in one transaction (group commit).
///
/// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING id` per batch: the unique index on active orders still
/// decides every row (two requests for one ticket in the same batch included), and the returned ids are exactly the
/// orders that won. Their `order:created` events go into the outbox in the same transaction. On SQLite, where writes
/// take turns, this turns one transaction per request into one per batch.
///
/// No background task: the first request to find nobody writing leads, writes the batch (its own reservation among
/// them) and, if more arrived meanwhile, hands the lead to the next waiting request.
final class Reservations: Sendable {
    private enum Turn {
        case won, lost, lead
    }

    private struct Waiting {
        var order: Order
        var price: Money
        var continuation: CheckedContinuation<Turn, any Error>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var leading = false
    }

    private let queue = Mutex(Queue())
    private let transactions: WriteTransactions
    static let maxBatch = 128

    init(transactions: WriteTransactions) {
        self.transactions = transactions
    }

    /// True when the order was written; false when another active order holds the ticket.
    func reserve(_ order: Order, price: Money, on db: any Database) async throws -> Bool {
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            let lead = queue.withLock { queue -> Bool in
                guard !queue.leading else {
                    queue.waiting.append(Waiting(order: order, price: price, continuation: continuation))
                    return false
                }
                queue.leading = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .won: return true
        case .lost: return false
        case .lead: return try await lead(with: order, price: price, on: db)
        }
    }

    /// Writes this request's reservation with those waiting, answers them, and passes the lead on.
    private func lead(with order: Order, price: Money, on db: any Database) async throws -> Bool {
        let others = queue.withLock { queue -> [Waiting] in
            let taken = Array(queue.waiting.prefix(Self.maxBatch - 1))
            queue.waiting.removeFirst(taken.count)
            return taken
        }
        let result: Result<Set<UUID>, any Error>
        do {
            let rows = [(order, price)] + others.map { ($0.order, $0.price) }
            result = .success(try await transactions.run(on: db) { tx in try await Self.insert(rows, on: tx) })
        } catch {
            result = .failure(error)
        }
        for waiting in others {
            switch result {
            case .success(let won): waiting.continuation.resume(returning: won.contains(waiting.order.id!) ? .won : .lost)
            case .failure(let error): waiting.continuation.resume(throwing: error)
            }
        }
        let next = queue.withLock { queue -> Waiting? in
            guard !queue.waiting.isEmpty else {
                queue.leading = false
                return nil
            }
            return queue.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try result.get().contains(order.id!)
    }

    /// Inserts the orders that do not collide with an active one, and their `order:created` events; returns their ids.
    private static func insert(_ rows: [(Order, Money)], on db: any Database) async throws -> Set<UUID> {
        let values = SQLList(rows.map { order, _ in
            SQLGroupExpression([
                SQLBind(order.id!), SQLBind(order.userId), SQLBind(order.status.rawValue), SQLBind(order.expiresAt),
                SQLBind(order.ticketId), SQLBind(order.version), SQLBind(order.createdAt),
            ])
        })
        let inserted = try await db.sql.raw("""
            INSERT INTO orders (id, user_id, status, expires_at, ticket_id, version, created_at) VALUES \(values)
            ON CONFLICT DO NOTHING RETURNING id
            """).all().map { try $0.decode(column: "id", as: UUID.self) }
        let won = Set(inserted)
        let events = rows.filter { won.contains($0.0.id!) }.map { order, price in order.createdEvent(price: price) }
        try await Outbox.record(events, on: db)
        return won
    }
}
