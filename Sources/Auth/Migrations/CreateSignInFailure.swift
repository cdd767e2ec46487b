import TicketingCore

/// Failed sign-ins per key (an email or a client address) within the current window, for throttling.
struct CreateSignInFailure: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("signin_failures")
            .field("key", .string, .identifier(auto: false))
            .field("failures", .int, .required)
            .field("window_started_at", .double, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("signin_failures").delete()
    }
}

/// Failures are now counted in the shared `rate_limits` table (see `SignInThrottle`).
struct DropSignInFailure: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("signin_failures").delete()
    }

    func revert(on database: any Database) async throws {
        try await CreateSignInFailure().prepare(on: database)
    }
}
