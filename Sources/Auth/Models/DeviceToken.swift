import JWT
import TicketingCore

/// Proof that a browser signed in to an account before: a signed `device` cookie given at every successful sign-in
/// or sign-up, which lets that browser's sign-ins be counted apart from a stranger's (see `SignInThrottle`).
/// It grants nothing else: it is not a session.
struct DeviceToken: JWTPayload {
    static let cookie = "device"
    static let lifetime: TimeInterval = 365 * 86_400

    var sub: SubjectClaim
    var kind: String
    var exp: ExpirationClaim

    init(email: String, now: Date = Date()) {
        sub = SubjectClaim(value: email)
        kind = "device"
        exp = ExpirationClaim(value: now.addingTimeInterval(Self.lifetime))
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        guard kind == "device" else { throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "not a device token") }
        try exp.verifyNotExpired()
    }

    /// The id the throttle counts a device's attempts under, if the request shows a valid device token for `email`.
    static func id(in request: Request, for email: String) async -> String? {
        guard let jwt = RequestCookie.value(of: cookie, in: request.headers),
              let token = try? await request.jwt.verify(jwt, as: DeviceToken.self), token.sub.value == email
        else { return nil }
        return SignedToken.id(jwt)
    }

    /// `Set-Cookie` for a new device token: `Path=/`, since the web front end's sign-in page (`/auth/signin`) must
    /// receive it to pass it on.
    static func setHeader(for email: String, on request: Request, secure: Bool) async throws -> String {
        let jwt = try await request.jwt.sign(DeviceToken(email: email))
        var parts = ["\(cookie)=\(jwt)", "Path=/", "Max-Age=\(Int(lifetime))", "HttpOnly", "SameSite=Lax"]
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}
