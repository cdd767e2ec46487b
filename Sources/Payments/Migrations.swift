import SQLKit
import TicketingCore

struct CreateReplicatedOrder: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("orders")
            .field("id", .string, .identifier(auto: false))
            .field("version", .int, .required)
            .field("status", .string, .required)
            .field("user_id", .string, .required)
            .field("price_cents", .int64, .required)
            .field("expires_at_ms", .int64, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("orders").delete()
    }
}

struct CreatePayment: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // One payment per order, whatever happens: the unique order id is the last line of defence against
        // recording a second charge for the same order.
        try await database.schema("payments")
            .field("id", .string, .identifier(auto: false))
            .field("order_id", .string, .required)
            .field("stripe_id", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "order_id")
            .create()
        try await database.schema("charges")
            .field("order_id", .string, .identifier(auto: false))
            .field("attempt", .int, .required)
            .field("state", .string, .required)
            .field("intent_id", .string)
            .field("lease_until_ms", .int64, .required)
            .create()
        try await database.schema("refunds")
            .field("order_id", .string, .identifier(auto: false))
            .field("intent_id", .string, .required)
            .field("refund_id", .string)
            .field("created_at", .datetime, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("refunds").delete()
        try await database.schema("charges").delete()
        try await database.schema("payments").delete()
    }
}

/// The lease holder of each charge attempt, so that a holder whose lease was taken over can no longer write.
struct AddChargeHolder: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("charges").field("holder", .string).update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("charges").deleteField("holder").update()
    }
}

/// Refunds per charge instead of per order (an order can have a charge beyond its recorded one to give back), each
/// with its own tries and backoff. Pending rows move over; `refunds` stays for a release, for replicas of the last one.
struct QueueRefundsPerCharge: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("refund_queue")
            .field("intent_id", .string, .identifier(auto: false))
            .field("order_id", .string, .required)
            .field("idempotency_key", .string, .required)
            .field("refund_id", .string)
            .field("attempts", .int, .required)
            .field("next_attempt_ms", .int64, .required)
            .field("parked_at_ms", .int64)
            .field("last_error", .string)
            .field("created_at", .datetime, .required)
            .create()
        try await database.sql.raw("""
            INSERT INTO refund_queue (intent_id, order_id, idempotency_key, refund_id, attempts, next_attempt_ms, created_at)
            SELECT intent_id, order_id, 'ticketing-refund-' || order_id, refund_id, 0, 0, created_at FROM refunds
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("refund_queue").delete()
    }
}
