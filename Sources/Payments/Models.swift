import Foundation
import SQLKit
import TicketingCore

/// This service's copy of an order, kept from `order:created` / `order:cancelled`.
struct ReplicatedOrder: Sendable {
    var id: String
    var version: Int
    var status: OrderStatus
    var userId: String
    var price: Money
    var expiresAt: Date

    /// Reads the order, locking its row on PostgreSQL until the caller's transaction ends, so that two payment
    /// requests for one order decide one after the other (SQLite write transactions already take turns).
    static func findForUpdate(_ id: String, on db: any Database) async throws -> ReplicatedOrder? {
        guard let row = try await db.sql.raw("""
            SELECT version, status, user_id, price_cents, expires_at_ms FROM orders WHERE id = \(bind: id) \(db.lockForUpdate)
            """).first() else { return nil }
        return ReplicatedOrder(
            id: id,
            version: try row.decode(column: "version", as: Int.self),
            status: OrderStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .cancelled,
            userId: try row.decode(column: "user_id", as: String.self),
            price: Money(cents: try row.decode(column: "price_cents", as: Int64.self)),
            expiresAt: Date(epochMilliseconds: try row.decode(column: "expires_at_ms", as: Int64.self))
        )
    }
}

/// A recorded payment: Stripe accepted the charge and `payment:created` is on its way.
enum Payments {
    static func id(forOrder orderId: String, on db: any Database) async throws -> String? {
        try await db.sql.raw("SELECT id FROM payments WHERE order_id = \(bind: orderId)").first()?.decode(column: "id", as: String.self)
    }

    /// Records the payment and its event once per order; a second call returns the first payment's id.
    static func record(orderId: String, stripeId: String, on db: any Database) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let inserted = try await db.sql.raw("""
            INSERT INTO payments (id, order_id, stripe_id, created_at)
            VALUES (\(bind: id), \(bind: orderId), \(bind: stripeId), \(bind: Date()))
            ON CONFLICT (order_id) DO NOTHING RETURNING id
            """).first()
        try await db.sql.raw("UPDATE charges SET state = \(bind: ChargeState.paid.rawValue) WHERE order_id = \(bind: orderId)").run()
        guard inserted != nil else { return try await Self.id(forOrder: orderId, on: db)! }
        try await Outbox.record(PaymentCreatedEvent(id: id, orderId: orderId, stripeId: stripeId), on: db)
        return id
    }
}

/// Payments to give back: a charge that completed after its order had already been cancelled (the buyer paid in the
/// last moments while the expiry was on its way). The ticket may be another buyer's by then, so the money goes back.
enum Refunds {
    /// Schedules the refund of the order's payment, if it has one, in the caller's transaction; once per order.
    @discardableResult
    static func schedule(orderId: String, on db: any Database) async throws -> Bool {
        let row = try await db.sql.raw("""
            INSERT INTO refunds (order_id, intent_id, created_at)
            SELECT order_id, stripe_id, \(bind: Date()) FROM payments WHERE order_id = \(bind: orderId)
            ON CONFLICT (order_id) DO NOTHING RETURNING order_id
            """).first()
        return row != nil
    }

    static func due(limit: Int, on db: any Database) async throws -> [(orderId: String, intentID: String)] {
        try await db.sql.raw("""
            SELECT order_id, intent_id FROM refunds WHERE refund_id IS NULL ORDER BY created_at LIMIT \(unsafeRaw: String(limit))
            """).all().map { (try $0.decode(column: "order_id", as: String.self), try $0.decode(column: "intent_id", as: String.self)) }
    }

    static func done(orderId: String, refundID: String, on db: any Database) async throws {
        try await db.sql.raw("UPDATE refunds SET refund_id = \(bind: refundID) WHERE order_id = \(bind: orderId)").run()
    }
}

/// Where the charge of an order stands. `charging` is held by one request (or the reconciler) until its lease
/// ends; a lease that ends unsettled means its holder died or lost Stripe, and whoever comes next settles it
/// from Stripe's record of the PaymentIntent before charging anything again.
enum ChargeState: String, Sendable {
    case charging, failed, paid
}

struct ChargeAttempt: Sendable {
    var orderId: String
    var number: Int
    var state: ChargeState
    var intentID: String?
    var leaseUntil: Int64

    static func find(_ orderId: String, on db: any Database) async throws -> ChargeAttempt? {
        guard let row = try await db.sql.raw("""
            SELECT attempt, state, intent_id, lease_until_ms FROM charges WHERE order_id = \(bind: orderId)
            """).first() else { return nil }
        return ChargeAttempt(
            orderId: orderId,
            number: try row.decode(column: "attempt", as: Int.self),
            state: ChargeState(rawValue: try row.decode(column: "state", as: String.self)) ?? .failed,
            intentID: try row.decode(column: "intent_id", as: String?.self),
            leaseUntil: try row.decode(column: "lease_until_ms", as: Int64.self)
        )
    }

    /// Starts attempt `number`, leased until `leaseUntil`.
    static func start(_ orderId: String, number: Int, until leaseUntil: Int64, on db: any Database) async throws {
        try await db.sql.raw("""
            INSERT INTO charges (order_id, attempt, state, intent_id, lease_until_ms)
            VALUES (\(bind: orderId), \(bind: number), \(bind: ChargeState.charging.rawValue), NULL, \(bind: leaseUntil))
            ON CONFLICT (order_id) DO UPDATE SET attempt = excluded.attempt, state = excluded.state,
                intent_id = excluded.intent_id, lease_until_ms = excluded.lease_until_ms
            """).run()
    }

    /// Takes over an attempt whose lease ended by `now`, in one conditional write so that only one taker wins.
    static func takeOver(_ orderId: String, now: Int64, until leaseUntil: Int64, on db: any Database) async throws -> ChargeAttempt? {
        guard let row = try await db.sql.raw("""
            UPDATE charges SET lease_until_ms = \(bind: leaseUntil)
            WHERE order_id = \(bind: orderId) AND state = \(bind: ChargeState.charging.rawValue) AND lease_until_ms <= \(bind: now)
            RETURNING attempt, intent_id
            """).first() else { return nil }
        return ChargeAttempt(
            orderId: orderId, number: try row.decode(column: "attempt", as: Int.self), state: .charging,
            intentID: try row.decode(column: "intent_id", as: String?.self), leaseUntil: leaseUntil
        )
    }

    static func setIntent(_ orderId: String, number: Int, intentID: String, on db: any Database) async throws {
        try await db.sql.raw("""
            UPDATE charges SET intent_id = \(bind: intentID) WHERE order_id = \(bind: orderId) AND attempt = \(bind: number)
            """).run()
    }

    /// Ends attempt `number` as failed (nothing was charged), or, with `release`, leaves it unsettled for the next comer.
    static func finish(_ orderId: String, number: Int, release: Bool = false, on db: any Database) async throws {
        let change: SQLQueryString = release ? "lease_until_ms = 0" : "state = \(bind: ChargeState.failed.rawValue)"
        try await db.sql.raw("""
            UPDATE charges SET \(change)
            WHERE order_id = \(bind: orderId) AND attempt = \(bind: number) AND state = \(bind: ChargeState.charging.rawValue)
            """).run()
    }

    static func unsettled(before now: Int64, limit: Int, on db: any Database) async throws -> [String] {
        try await db.sql.raw("""
            SELECT order_id FROM charges WHERE state = \(bind: ChargeState.charging.rawValue) AND lease_until_ms < \(bind: now)
            LIMIT \(unsafeRaw: String(limit))
            """).all().map { try $0.decode(column: "order_id", as: String.self) }
    }
}
