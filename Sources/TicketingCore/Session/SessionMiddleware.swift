import JWT
import Synchronization
import Vapor

/// Reads the `session` cookie on every request and sets `request.currentUser` when its token is valid.
/// Anything wrong with the cookie (not base64, tampered, expired, `alg: none`, wrong key) means signed out.
///
/// A client sends the same cookie with every request, so a verified token is remembered (until it expires) and the
/// next request with it skips the signature check. The memory is keyed by the token, not by the cookie's text, so
/// one token wrapped in many ways is one entry; and a session signed out (`SessionRevocations`) is refused, remembered
/// or not.
public final class CurrentUserMiddleware: AsyncMiddleware, Sendable {
    private let verified = Mutex<[String: (user: CurrentUser, session: VerifiedSession)]>([:])
    private let capacity: Int
    private let revocations: SessionRevocations

    public init(revocations: SessionRevocations = SessionRevocations(), capacity: Int = 10_000) {
        self.revocations = revocations
        self.capacity = capacity
    }

    var remembered: Int { verified.withLock { $0.count } }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if let value = SessionCookie.value(in: request.headers), let (user, session) = await verify(value, request) {
            request.currentUser = user
            request.verifiedSession = session
        }
        return try await next.respond(to: request)
    }

    private func verify(_ value: String, _ request: Request) async -> (CurrentUser, VerifiedSession)? {
        guard let jwt = SessionCookie.decode(value) else { return nil }
        if let known = verified.withLock({ $0[jwt] }), known.session.expires > Date() {
            return revocations.contains(known.session.id) ? nil : known
        }
        guard let token = try? await request.jwt.verify(jwt, as: SessionToken.self) else { return nil }
        let session = VerifiedSession(id: SignedToken.id(jwt), expires: token.exp.value)
        guard !revocations.contains(session.id) else { return nil }
        let user = CurrentUser(token)
        verified.withLock { verified in
            // Bounded: when full, start over rather than track ages; the cost is one verification per active user.
            if verified.count >= capacity { verified.removeAll(keepingCapacity: true) }
            verified[jwt] = (user, session)
        }
        return (user, session)
    }
}

/// Refuses requests without a signed-in user with the contract's 401.
public struct RequireAuthMiddleware: AsyncMiddleware {
    public init() {}

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        _ = try request.requireUser()
        return try await next.respond(to: request)
    }
}

/// Signs session tokens with the configured key and lifetime.
public struct SessionIssuer: Sendable {
    public let lifetime: TimeInterval
    public let secureCookie: Bool

    public init(lifetime: TimeInterval, secureCookie: Bool) {
        self.lifetime = lifetime
        self.secureCookie = secureCookie
    }

    /// Signs a token for the user and sets it as the session cookie on the response.
    public func startSession(id: String, email: String, on request: Request, response: Response) async throws {
        let token = SessionToken(id: id, email: email, issuedAt: Date(), lifetime: lifetime)
        let jwt = try await request.jwt.sign(token)
        response.headers.add(
            name: .setCookie,
            value: SessionCookie.setHeader(jwt: jwt, maxAge: Int(lifetime), secure: secureCookie)
        )
    }

    public func endSession(response: Response) {
        response.headers.add(name: .setCookie, value: SessionCookie.clearHeader)
    }
}

extension Application {
    private struct SessionIssuerKey: StorageKey {
        typealias Value = SessionIssuer
    }

    public var sessionIssuer: SessionIssuer {
        get { storage[SessionIssuerKey.self] ?? SessionIssuer(lifetime: 7 * 86_400, secureCookie: true) }
        set { storage[SessionIssuerKey.self] = newValue }
    }
}
