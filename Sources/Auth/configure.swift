import TicketingCore

/// The auth service: sign up, sign in, sign out, current user (CONTRACT.md section 4, "auth").
public enum AuthService {
    public static func configure(_ app: Application, _ config: TicketingConfig) async throws {
        try await app.configureTicketingService(config)
        app.migrations.add(CreateUser(), CreateSignInFailure())
        try await app.prepareDatabase(config)
        let decoyHash = try await app.password.async.hash(UUID().uuidString)
        try app.register(collection: UserController(throttle: SignInThrottle(), decoyHash: decoyHash))
    }
}
