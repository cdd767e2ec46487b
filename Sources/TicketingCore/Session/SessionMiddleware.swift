import JWT
import Synchronization
import Vapor

/// Reads the `session` cookie on every request and sets `request.currentUser` when its token is valid.
/// Anything wrong with the cookie (not base64, tampered, expired, `alg: none`, wrong key) means signed out.
///
/// A client sends the same cookie with every request, so a verified cookie is remembered (exactly as sent, until
/// its token expires) and the next request with it skips the decoding and the signature check.
public final class CurrentUserMiddleware: AsyncMiddleware, Sendable {
    private let verified = Mutex<[String: (user: CurrentUser, expires: Date)]>([:])
    private let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if let value = SessionCookie.value(in: request.headers) {
            request.currentUser = await user(for: value, request)
        }
        return try await next.respond(to: request)
    }

    private func user(for value: String, _ request: Request) async -> CurrentUser? {
        let now = Date()
        if let known = verified.withLock({ $0[value] }), known.expires > now { return known.user }
        guard let jwt = SessionCookie.decode(value), let token = try? await request.jwt.verify(jwt, as: SessionToken.self) else {
            return nil
        }
        let user = CurrentUser(token)
        verified.withLock { verified in
            // Bounded: when full, start over rather than track ages; the cost is one verification per active user.
            if verified.count >= capacity { verified.removeAll(keepingCapacity: true) }
            verified[value] = (user, token.exp.value)
        }
        return user
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
