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

/// The recorded payments: Stripe accepted the charge and `payment:created` is on its way.
enum PaymentRecords {
    static func id(forOrder orderId: String, on db: any Database) async throws -> String? {
        try await db.sql.raw("SELECT id FROM payments WHERE order_id = \(bind: orderId)").first()?.decode(column: "id", as: String.self)
    }

    struct Recorded: Sendable {
        var id: String
        var stripeId: String
    }

    /// Records the payment and its event once per order; a later call returns the payment recorded first, whose
    /// charge may be another one than the caller's.
    static func record(orderId: String, stripeId: String, in tx: UnitOfWork.Transaction) async throws -> Recorded {
        let db = tx.db
        let id = UUID().uuidString.lowercased()
        let inserted = try await db.sql.raw("""
            INSERT INTO payments (id, order_id, stripe_id, created_at)
            VALUES (\(bind: id), \(bind: orderId), \(bind: stripeId), \(bind: Date()))
            ON CONFLICT (order_id) DO NOTHING RETURNING id
            """).first()
        try await db.sql.raw("UPDATE charges SET state = \(bind: ChargeState.paid.rawValue) WHERE order_id = \(bind: orderId)").run()
        guard inserted != nil else {
            let row = try await db.sql.raw("SELECT id, stripe_id FROM payments WHERE order_id = \(bind: orderId)").first()!
            return Recorded(id: try row.decode(column: "id", as: String.self), stripeId: try row.decode(column: "stripe_id", as: String.self))
        }
        try await tx.record(PaymentCreatedEvent(id: id, orderId: orderId, stripeId: stripeId))
        return Recorded(id: id, stripeId: stripeId)
    }
}

/// Charges to give back, one row per Stripe charge (its PaymentIntent): a charge that completed after its order had
/// been cancelled (the buyer paid in the last moments while the expiry was on its way: the ticket may be another
/// buyer's by then), and any charge beyond the one recorded for an order. Each is tried on its own, with its own
/// backoff, so one that Stripe keeps refusing holds up no other, and parked after `maxAttempts` for a person to see.
enum Refunds {
    static let maxAttempts = 12

    struct Due: Sendable {
        var orderId: String
        var intentID: String
        var idempotencyKey: String
    }

    /// Schedules the refund of the order's recorded payment, if it has one, in the caller's transaction; once. Its
    /// idempotency key is the one the release before used, so a refund both start during a rollout is one refund.
    @discardableResult
    static func schedule(orderId: String, on db: any Database) async throws -> Bool {
        try await db.sql.raw("""
            INSERT INTO refund_queue (intent_id, order_id, idempotency_key, attempts, next_attempt_ms, created_at)
            SELECT stripe_id, order_id, \(bind: key(orderId)), 0, 0, \(bind: Date()) FROM payments WHERE order_id = \(bind: orderId)
            ON CONFLICT (intent_id) DO NOTHING RETURNING intent_id
            """).first() != nil
    }

    /// Schedules the refund of a charge beyond the order's recorded one, in the caller's transaction; once.
    static func schedule(orderId: String, intentID: String, on db: any Database) async throws {
        try await db.sql.raw("""
            INSERT INTO refund_queue (intent_id, order_id, idempotency_key, attempts, next_attempt_ms, created_at)
            VALUES (\(bind: intentID), \(bind: orderId), \(bind: key(orderId) + "-" + intentID), 0, 0, \(bind: Date()))
            ON CONFLICT (intent_id) DO NOTHING
            """).run()
    }

    static func key(_ orderId: String) -> String {
        "ticketing-refund-\(orderId)"
    }

    /// Takes over what replicas of the previous release scheduled in their table during a rollout, under their key.
    /// For one release only: `refunds` goes with the next.
    static func adoptPrevious(on db: any Database) async throws {
        try await db.sql.raw("""
            INSERT INTO refund_queue (intent_id, order_id, idempotency_key, attempts, next_attempt_ms, created_at)
            SELECT intent_id, order_id, 'ticketing-refund-' || order_id, 0, 0, created_at FROM refunds WHERE refund_id IS NULL
            ON CONFLICT (intent_id) DO NOTHING
            """).run()
    }

    /// The refunds whose turn has come by `now`, oldest first.
    static func due(now: Date, limit: Int, on db: any Database) async throws -> [Due] {
        try await db.sql.raw("""
            SELECT order_id, intent_id, idempotency_key FROM refund_queue
            WHERE refund_id IS NULL AND parked_at_ms IS NULL AND next_attempt_ms <= \(bind: now.epochMilliseconds)
            ORDER BY created_at, intent_id LIMIT \(unsafeRaw: String(limit))
            """).all().map {
                Due(orderId: try $0.decode(column: "order_id", as: String.self), intentID: try $0.decode(column: "intent_id", as: String.self),
                    idempotencyKey: try $0.decode(column: "idempotency_key", as: String.self))
            }
    }

    static func done(intentID: String, refundID: String, on db: any Database) async throws {
        try await db.sql.raw("UPDATE refund_queue SET refund_id = \(bind: refundID) WHERE intent_id = \(bind: intentID)").run()
        try await db.sql.raw("UPDATE refunds SET refund_id = \(bind: refundID) WHERE intent_id = \(bind: intentID)").run()
    }

    /// Counts a failed try; the next waits twice as long as the last (5 s, 10 s, … at most an hour), and the
    /// `maxAttempts`-th failure parks the refund. Returns the tries so far and whether it is now parked.
    static func failed(_ due: Due, error: String, now: Date, on db: any Database) async throws -> (attempts: Int, parked: Bool) {
        let attempts = try await db.sql.raw("""
            UPDATE refund_queue SET attempts = attempts + 1, last_error = \(bind: String(error.prefix(500)))
            WHERE intent_id = \(bind: due.intentID) RETURNING attempts
            """).first()?.decode(column: "attempts", as: Int.self) ?? maxAttempts
        let parked = attempts >= maxAttempts
        let delay = min(5 * pow(2, Double(attempts - 1)), 3_600)
        try await db.sql.raw("""
            UPDATE refund_queue SET next_attempt_ms = \(bind: now.addingTimeInterval(delay).epochMilliseconds),
                parked_at_ms = \(bind: parked ? now.epochMilliseconds : nil)
            WHERE intent_id = \(bind: due.intentID)
            """).run()
        return (attempts, parked)
    }
}

/// Where the charge of an order stands. `charging` is held by one request (or the reconciler) until its lease
/// ends; a lease that ends unsettled means its holder died or lost Stripe, and whoever comes next settles it
/// from Stripe's record of the PaymentIntent before charging anything again.
enum ChargeState: String, Sendable {
    case charging, failed, paid
}

/// Every write to an attempt names the lease it holds (`holder`, new with each lease): a holder whose lease ended and
/// was taken over can no longer write, so it cannot record an intent, and so never confirms one. A holder that
/// recorded its intent and then stalls may still confirm it late; the taker asks Stripe for that intent's state and
/// cancels or records it, so that is settled too.
struct ChargeAttempt: Sendable {
    var orderId: String
    var number: Int
    var state: ChargeState
    var intentID: String?
    var leaseUntil: Int64
    var holder: String

    static func find(_ orderId: String, on db: any Database) async throws -> ChargeAttempt? {
        guard let row = try await db.sql.raw("""
            SELECT attempt, state, intent_id, lease_until_ms, holder FROM charges WHERE order_id = \(bind: orderId)
            """).first() else { return nil }
        return ChargeAttempt(
            orderId: orderId,
            number: try row.decode(column: "attempt", as: Int.self),
            state: ChargeState(rawValue: try row.decode(column: "state", as: String.self)) ?? .failed,
            intentID: try row.decode(column: "intent_id", as: String?.self),
            leaseUntil: try row.decode(column: "lease_until_ms", as: Int64.self),
            holder: try row.decode(column: "holder", as: String?.self) ?? ""
        )
    }

    /// Starts attempt `number`, leased until `leaseUntil`; returns it with its holder.
    static func start(_ orderId: String, number: Int, until leaseUntil: Int64, on db: any Database) async throws -> ChargeAttempt {
        let holder = UUID().uuidString
        try await db.sql.raw("""
            INSERT INTO charges (order_id, attempt, state, intent_id, lease_until_ms, holder)
            VALUES (\(bind: orderId), \(bind: number), \(bind: ChargeState.charging.rawValue), NULL, \(bind: leaseUntil), \(bind: holder))
            ON CONFLICT (order_id) DO UPDATE SET attempt = excluded.attempt, state = excluded.state,
                intent_id = excluded.intent_id, lease_until_ms = excluded.lease_until_ms, holder = excluded.holder
            """).run()
        return ChargeAttempt(orderId: orderId, number: number, state: .charging, intentID: nil, leaseUntil: leaseUntil, holder: holder)
    }

    /// Takes over an attempt whose lease ended by `now`, in one conditional write so that only one taker wins, and
    /// the holder before it can no longer write.
    static func takeOver(_ orderId: String, now: Int64, until leaseUntil: Int64, on db: any Database) async throws -> ChargeAttempt? {
        let holder = UUID().uuidString
        guard let row = try await db.sql.raw("""
            UPDATE charges SET lease_until_ms = \(bind: leaseUntil), holder = \(bind: holder)
            WHERE order_id = \(bind: orderId) AND state = \(bind: ChargeState.charging.rawValue) AND lease_until_ms <= \(bind: now)
            RETURNING attempt, intent_id
            """).first() else { return nil }
        return ChargeAttempt(
            orderId: orderId, number: try row.decode(column: "attempt", as: Int.self), state: .charging,
            intentID: try row.decode(column: "intent_id", as: String?.self), leaseUntil: leaseUntil, holder: holder
        )
    }

    /// Records the attempt's PaymentIntent; false if the lease was lost (the intent must then never be confirmed).
    func setIntent(_ intentID: String, on db: any Database) async throws -> Bool {
        try await db.sql.raw("""
            UPDATE charges SET intent_id = \(bind: intentID)
            WHERE order_id = \(bind: orderId) AND \(fence) RETURNING order_id
            """).first() != nil
    }

    /// Ends the attempt as failed (nothing was charged), or, with `release`, leaves it unsettled for the next comer.
    /// False if the lease was lost: the attempt is someone else's to end.
    func finish(release: Bool, on db: any Database) async throws -> Bool {
        let change: SQLQueryString = release ? "lease_until_ms = 0" : "state = \(bind: ChargeState.failed.rawValue)"
        return try await db.sql.raw("""
            UPDATE charges SET \(change) WHERE order_id = \(bind: orderId) AND \(fence) RETURNING order_id
            """).first() != nil
    }

    /// This attempt, still charging, still under this lease.
    private var fence: SQLQueryString {
        "attempt = \(bind: number) AND state = \(bind: ChargeState.charging.rawValue) AND holder = \(bind: holder)"
    }

    static func unsettled(before now: Int64, limit: Int, on db: any Database) async throws -> [String] {
        try await db.sql.raw("""
            SELECT order_id FROM charges WHERE state = \(bind: ChargeState.charging.rawValue) AND lease_until_ms < \(bind: now)
            LIMIT \(unsafeRaw: String(limit))
            """).all().map { try $0.decode(column: "order_id", as: String.self) }
    }
}
