import Foundation
import SQLKit
import Synchronization
import TicketingCore
import Tracing

/// Writes reservations that arrive together in one transaction (group commit).
///
/// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING id` per batch: the unique index on active orders still
/// decides every row (two requests for one ticket in the same batch included), and the returned ids are exactly the
/// orders that won. Their `order:created` events go into the outbox in the same transaction. On SQLite, where writes
/// take turns, this turns one transaction per request into one per batch.
///
/// Before writing, the batch reads its tickets in the replica, shared-locked on PostgreSQL: a ticket withdrawn
/// meanwhile is refused, and a withdrawal arriving now waits for this transaction, then sees its orders and cancels
/// them (see `TicketUpdatedListener`).
///
/// The same transaction keeps each buyer's limits: orders made per window (`ORDER_LIMIT`, counted in `rate_limits`)
/// and reservations held at once (`ACTIVE_ORDERS_PER_USER`, counted from the orders themselves). On PostgreSQL each
/// buyer in the batch is locked for the transaction first (an advisory lock), so replicas cannot both count the
/// same held reservations; SQLite write transactions already take turns. A buyer's requests beyond a limit are
/// refused, in the order they arrived.
///
/// No background task: the first request to find nobody writing leads, writes the batch (its own reservation among
/// them) and, if more arrived meanwhile, hands the lead to the next waiting request.
final class Reservations: Sendable {
    enum Outcome: Sendable, Equatable {
        case reserved
        /// Another active order holds the ticket.
        case taken
        /// Its owner took the ticket off sale while the order was on its way.
        case withdrawn
        /// The buyer already holds `ACTIVE_ORDERS_PER_USER` reservations.
        case holdingTooMany
        /// The buyer made `ORDER_LIMIT` orders in the window; the next window starts in this many seconds.
        case tooFrequent(retryAfter: Int)
    }

    private enum Turn {
        case decided(Outcome)
        case lead
    }

    private struct Waiting {
        var order: Order
        /// The request's trace, which its `order:created` continues although another request's task records it.
        var trace: InstrumentationContext
        var continuation: CheckedContinuation<Turn, any Error>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var leading = false
    }

    private let queue = Mutex(Queue())
    private let unitOfWork: UnitOfWork
    private let orderRate: RateLimit
    private let maxHeld: Int
    static let maxBatch = 128

    init(unitOfWork: UnitOfWork, limits: AbuseLimits) {
        self.unitOfWork = unitOfWork
        orderRate = RateLimit(limit: limits.ordersPerUser, window: limits.orderWindow)
        maxHeld = limits.activeOrdersPerUser
    }

    func reserve(_ order: Order, on db: any Database) async throws -> Outcome {
        let trace = InstrumentationContext.current ?? .topLevel
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            let lead = queue.withLock { queue -> Bool in
                guard !queue.leading else {
                    queue.waiting.append(Waiting(order: order, trace: trace, continuation: continuation))
                    return false
                }
                queue.leading = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .decided(let outcome): return outcome
        case .lead: return try await lead(with: order, trace: trace, on: db)
        }
    }

    /// Writes this request's reservation with those waiting, answers them, and passes the lead on.
    private func lead(with order: Order, trace: InstrumentationContext, on db: any Database) async throws -> Outcome {
        let others = queue.withLock { queue -> [Waiting] in
            let taken = Array(queue.waiting.prefix(Self.maxBatch - 1))
            queue.waiting.removeFirst(taken.count)
            return taken
        }
        let result: Result<[UUID: Outcome], any Error>
        do {
            let orders = [(order, trace)] + others.map { ($0.order, $0.trace) }
            result = .success(try await unitOfWork.run(on: db) { tx in try await self.insert(orders, in: tx) })
        } catch {
            result = .failure(error)
        }
        for waiting in others {
            switch result {
            case .success(let outcomes): waiting.continuation.resume(returning: .decided(outcomes[waiting.order.id!] ?? .taken))
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
        return try result.get()[order.id!] ?? .taken
    }

    /// Decides every order of the batch: refused by a buyer's limit, inserted, or lost to an active order of its
    /// ticket. The inserted ones get their `order:created` events.
    private func insert(_ traced: [(Order, InstrumentationContext)], in tx: UnitOfWork.Transaction) async throws -> [UUID: Outcome] {
        let db = tx.db
        let orders = traced.map(\.0)
        let traces = Dictionary(uniqueKeysWithValues: traced.map { ($0.0.id!, $0.1) })
        var outcomes: [UUID: Outcome] = [:]
        var admitted: [Order] = []
        let byBuyer = Dictionary(grouping: orders, by: \.userId)
        for buyer in byBuyer.keys.sorted() {
            let theirs = byBuyer[buyer]!
            if db.sql.dialect.name == "postgresql" {
                try await db.sql.raw("SELECT pg_advisory_xact_lock(hashtext(\(bind: "orders-user:" + buyer)))").run()
            }
            let use = try await orderRate.count("orders-user:" + buyer, uses: theirs.count, on: db.sql)
            let allowedByRate = max(0, orderRate.limit - (use.count - theirs.count))
            let held = try await db.sql.raw("""
                SELECT COUNT(*) AS held FROM orders WHERE user_id = \(bind: buyer) AND status IN (\(binds: OrderStatus.reserving.map(\.rawValue)))
                """).first()?.decode(column: "held", as: Int.self) ?? 0
            let allowedByHolding = max(0, maxHeld - held)
            for (position, order) in theirs.enumerated() {
                if position >= allowedByRate {
                    outcomes[order.id!] = .tooFrequent(retryAfter: use.retryAfter)
                } else if position >= allowedByHolding {
                    outcomes[order.id!] = .holdingTooMany
                } else {
                    admitted.append(order)
                }
            }
        }
        let ticketIds = Array(Set(admitted.map(\.ticketId))).sorted()
        let orderable = ticketIds.isEmpty ? [] : Set(try await db.sql.raw("""
            SELECT id FROM tickets WHERE id IN (\(binds: ticketIds)) AND NOT withdrawn ORDER BY id \(db.lockForShare)
            """).all().map { try $0.decode(column: "id", as: String.self) })
        admitted.removeAll { order in
            guard !orderable.contains(order.ticketId) else { return false }
            outcomes[order.id!] = .withdrawn
            return true
        }
        guard !admitted.isEmpty else { return outcomes }
        // Inserted in ticket order, so two replicas' batches take the unique index's entries in one order (no deadlock).
        admitted.sort { $0.ticketId < $1.ticketId }
        let values = SQLList(admitted.map { order in
            SQLGroupExpression([
                SQLBind(order.id!), SQLBind(order.userId), SQLBind(order.status.rawValue), SQLBind(order.expiresAt),
                SQLBind(order.ticketId), SQLBind(order.priceCents), SQLBind(order.version), SQLBind(order.createdAt),
            ])
        })
        let won = Set(try await db.sql.raw("""
            INSERT INTO orders (id, user_id, status, expires_at, ticket_id, price_cents, version, created_at) VALUES \(values)
            ON CONFLICT DO NOTHING RETURNING id
            """).all().map { try $0.decode(column: "id", as: UUID.self) })
        for order in admitted { outcomes[order.id!] = won.contains(order.id!) ? .reserved : .taken }
        let created = admitted.filter { won.contains($0.id!) }
        try await tx.record(created.map(\.createdEvent), tracedBy: created.map { traces[$0.id!] ?? .topLevel })
        return outcomes
    }
}
