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
