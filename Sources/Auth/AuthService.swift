import TicketingCore

extension ServiceDefinition {
    /// The auth service: sign up, sign in, sign out, current user (CONTRACT.md section 4, "auth"). It publishes
    /// `session:revoked` when a session is signed out, and refuses such sessions itself.
    public static let auth = ServiceDefinition(
        name: "auth", defaultPort: 4001, routes: ["/api/users"], publishes: [.sessionRevoked],
        migrations: [CreateUser(), CreateSignInFailure(), CreateRateLimits()]
    ) { service in
        let limits = service.config.limits
        let decoyHash = try await service.app.password.async.hash(UUID().uuidString)
        return ServiceParts(
            routes: [UserController(
                throttle: SignInThrottle(limits),
                signUps: RateLimit(limit: limits.signUpsPerAddress, window: limits.signUpWindow),
                decoyHash: decoyHash
            )],
            background: [RateLimits.pruning(longestWindow: max(limits.signInWindow, limits.signUpWindow), in: service)]
        )
    }
}
