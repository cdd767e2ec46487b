import JWT
import Vapor

/// The JWT inside the `session` cookie: `{id, email, iat, exp}`, HS256, and a random `jti` (JWT's token id) so that two
/// sign-ins in the same second are two sessions, which sign out apart. Tokens from before it have none.
public struct SessionToken: JWTPayload, Equatable {
    public var id: String
    public var email: String
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim
    public var jti: IDClaim?

    public init(id: String, email: String, issuedAt: Date, lifetime: TimeInterval) {
        self.id = id
        self.email = email
        // Whole seconds, as every JWT library writes them.
        let now = Date(timeIntervalSince1970: issuedAt.timeIntervalSince1970.rounded(.down))
        self.iat = IssuedAtClaim(value: now)
        self.exp = ExpirationClaim(value: now.addingTimeInterval(lifetime))
        jti = IDClaim(value: UUID().uuidString.lowercased())
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// The signed-in user as the API shows it: `{id, email, iat}`.
public struct CurrentUser: Content, Equatable, Sendable {
    public var id: String
    public var email: String
    public var iat: Int

    public init(_ token: SessionToken) {
        id = token.id
        email = token.email
        iat = Int(token.iat.value.timeIntervalSince1970)
    }
}

/// The session of a request's verified, not signed-out token: its id (`SignedToken.id`) and when it expires.
public struct VerifiedSession: Sendable, Equatable {
    public var id: String
    public var expires: Date
}

extension Request {
    private struct CurrentUserKey: StorageKey {
        typealias Value = CurrentUser
    }

    private struct VerifiedSessionKey: StorageKey {
        typealias Value = VerifiedSession
    }

    /// Set with `currentUser`, by the session middleware.
    public var verifiedSession: VerifiedSession? {
        get { storage[VerifiedSessionKey.self] }
        set { storage[VerifiedSessionKey.self] = newValue }
    }

    /// The user of a valid session cookie, or nil when signed out (no cookie, bad or expired token).
    public var currentUser: CurrentUser? {
        get { storage[CurrentUserKey.self] }
        set { storage[CurrentUserKey.self] = newValue }
    }

    /// The signed-in user, or the contract's 401.
    public func requireUser() throws -> CurrentUser {
        guard let user = currentUser else { throw AppError.notAuthorized }
        return user
    }
}
