import TicketingCore

/// Failed sign-ins per key, as counted before `rate_limits`. No longer used; kept while replicas of the release before
/// may still run, to be dropped in a later one.
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
