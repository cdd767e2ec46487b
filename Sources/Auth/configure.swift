import TicketingCore

/// The auth service: sign up, sign in, sign out, current user (CONTRACT.md section 4, "auth").
public enum AuthService {
    public static func configure(_ app: Application, _ config: TicketingConfig, bus: (any EventBus)? = nil) async throws {
        try await app.configureTicketingService(config)
        // Publishes `session:revoked` when a session is signed out, and refuses such sessions itself.
        try await app.useEvents(config, bus: bus)
        app.useSessionRevocations()
        app.migrations.add(CreateUser(), CreateSignInFailure(), CreateRateLimits())
        try await app.prepareDatabase(config)
        let decoyHash = try await app.password.async.hash(UUID().uuidString)
        let limits = config.limits
        try app.register(collection: UserController(
            throttle: SignInThrottle(limits),
            signUps: RateLimit(limit: limits.signUpsPerAddress, window: limits.signUpWindow),
            decoyHash: decoyHash
        ))
        app.lifecycle.use(BackgroundTask { [unowned app] in
            await RateLimits.pruneRegularly(longestWindow: max(limits.signInWindow, limits.signUpWindow), db: { app.db }, logger: app.logger)
        })
    }
}
