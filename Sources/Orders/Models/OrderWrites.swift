import FluentSQL
import SQLKit
import TicketingCore

extension Order {
    /// Reads an order to change it in the caller's transaction, locking its row on PostgreSQL until the transaction
    /// ends (SQLite write transactions are already one at a time).
    static func findForUpdate(_ id: UUID, on db: any Database) async throws -> Order? {
        try await db.sql.raw("SELECT * FROM orders WHERE id = \(bind: id) \(db.lockForUpdate)").first(decodingFluent: Order.self)
    }

    /// Notes that the order was paid, while it waits for its resale's hand-over; not a new version (no event).
    func markPaid(on db: any Database) async throws {
        let now = Date()
        try await db.sql.raw("UPDATE orders SET paid_at = \(bind: now) WHERE id = \(bind: try requireID()) AND paid_at IS NULL").run()
        paidAt = paidAt ?? now
    }

    /// Moves the order to `status` as its next version, if it is still at the version and in one of the statuses
    /// it was read in. Returns false when another change (a payment, an expiry, a second cancel) came first.
    func transition(to status: OrderStatus, from allowed: [OrderStatus], on db: any Database) async throws -> Bool {
        let id = try requireID()
        let row = try await db.sql.raw("""
            UPDATE orders SET status = \(bind: status.rawValue), version = version + 1
            WHERE id = \(bind: id) AND version = \(bind: version)
              AND status IN (\(binds: allowed.map(\.rawValue)))
            RETURNING version
            """).first()
        guard let row else { return false }
        self.status = status
        version = try row.decode(column: "version", as: Int.self)
        return true
    }

    /// Cancels the order and records `order:cancelled`, unless it is already cancelled or complete, or paid and
    /// waiting for its resale's hand-over (that counts as complete, unless `evenIfPaid`: the listing was withdrawn,
    /// so the hand-over will never come and the payment is refunded). Re-reads and retries when it changed
    /// underneath; returns the status the order ended in.
    static func cancel(_ id: UUID, evenIfPaid: Bool = false, in tx: UnitOfWork.Transaction) async throws -> OrderStatus? {
        while true {
            guard let order = try await Order.findForUpdate(id, on: tx.db) else { return nil }
            guard [.created, .awaitingPayment].contains(order.status) else { return order.status }
            if order.paidAt != nil, !evenIfPaid { return .complete }
            if try await order.transition(to: .cancelled, from: [.created, .awaitingPayment], on: tx.db) {
                try await tx.record(order.cancelledEvent)
                return .cancelled
            }
        }
    }

    /// Completes a paid resale order once the replica shows it handed over (see `PaymentCreatedListener`).
    static func completeIfHandedOver(_ id: UUID, on db: any Database) async throws {
        guard let order = try await Order.findForUpdate(id, on: db), order.paidAt != nil,
              [.created, .awaitingPayment].contains(order.status),
              let ticket = try await ReplicatedTicket.find(order.ticketId, on: db), ticket.isHandedOver(to: order)
        else { return }
        _ = try await order.transition(to: .complete, from: [.created, .awaitingPayment], on: db)
    }
}
