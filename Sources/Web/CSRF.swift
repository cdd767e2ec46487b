import Crypto
import Foundation
import TicketingCore

/// Cross-site request forgery protection for the form posts: a random value in a cookie only this site can read, and
/// in each form a token signed with the server's key over that value and the visitor's session. Another site can
/// make a browser post a form here (with the session cookie), but cannot read the cookie, and cannot make a token
/// without the key. Because the token is bound to the session, a cookie planted by another party (or a value and
/// token pair an attacker got for their own session) is refused too: it never matches the victim's session.
/// Before sign-in there is no session, and the token is bound to the cookie alone.
struct CSRF: Sendable {
    static let cookie = "csrf"
    static let field = "_csrf"

    private let key: SymmetricKey

    init(secret: String) {
        // A key of its own, derived from the shared secret, so a CSRF token is never also a valid anything else.
        key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("ticketing csrf".utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }

    /// The token for this request's forms, creating the visitor's cookie value (set on the response later) if needed.
    func token(for request: Request) -> String {
        token(value: Self.value(for: request), session: Self.session(of: request))
    }

    func isValid(_ sent: String, for request: Request) -> Bool {
        guard let value = RequestCookie.value(of: Self.cookie, in: request.headers), Self.isWellFormed(value) else { return false }
        let expected = token(value: value, session: Self.session(of: request))
        return Self.constantTimeEqual(Array(sent.utf8), Array(expected.utf8))
    }

    private func token(value: String, session: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(value)|\(session)".utf8), using: key)
        return Self.base64URL(Data(mac))
    }

    /// The visitor's verified session, or "" when signed out.
    private static func session(of request: Request) -> String {
        request.verifiedSession?.id ?? ""
    }

    private static func value(for request: Request) -> String {
        if let existing = RequestCookie.value(of: cookie, in: request.headers), isWellFormed(existing) { return existing }
        if let issued = request.storage[IssuedKey.self] { return issued }
        var generator = SystemRandomNumberGenerator()
        let value = base64URL(Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        request.storage[IssuedKey.self] = value
        return value
    }

    private static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == 43 && value.utf8.allSatisfy { $0.isBase64URL }
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    struct IssuedKey: StorageKey {
        typealias Value = String
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

extension UInt8 {
    fileprivate var isBase64URL: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || self == 0x2D || self == 0x5F
    }
}

extension Application {
    private struct CSRFKey: StorageKey {
        typealias Value = CSRF
    }

    var csrf: CSRF {
        get {
            guard let csrf = storage[CSRFKey.self] else { preconditionFailure("WebService.configure sets the CSRF key") }
            return csrf
        }
        set { storage[CSRFKey.self] = newValue }
    }
}

/// Checks the token on every POST and sets the cookie on responses that handed out a new value.
struct CSRFMiddleware: AsyncMiddleware {
    let secureCookie: Bool

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method == .POST {
            struct Field: Decodable {
                var _csrf: String?
            }
            let sent = (try? request.content.decode(Field.self))?._csrf
            guard let sent, !sent.isEmpty, request.application.csrf.isValid(sent, for: request) else { throw PageError.forbidden }
        }
        let response = try await next.respond(to: request)
        if let issued = request.storage[CSRF.IssuedKey.self] {
            response.cookies[CSRF.cookie] = HTTPCookies.Value(
                string: issued, path: "/", isSecure: secureCookie, isHTTPOnly: true, sameSite: .strict
            )
        }
        return response
    }
}
