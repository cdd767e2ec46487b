import Foundation
import TicketingCore

/// Cross-site request forgery protection for the form posts, by double submission: a random token in a cookie that
/// only this site can read, repeated in a hidden field of each form. Another site can make a browser post a form here
/// (with the session cookie), but cannot read the cookie to put the same token in the form.
enum CSRF {
    static let cookie = "csrf"
    static let field = "_csrf"

    /// The visitor's token, creating one (and setting its cookie on `response` later) when there is none.
    static func token(for request: Request) -> String {
        if let existing = request.cookies[cookie]?.string, existing.count == 43 { return existing }
        if let issued = request.storage[IssuedKey.self] { return issued }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let token = String(Data(bytes).base64EncodedString().dropLast()).replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
        request.storage[IssuedKey.self] = token
        return token
    }

    struct IssuedKey: StorageKey {
        typealias Value = String
    }
}

/// Checks the token on every POST and sets the cookie on responses that handed out a new token.
struct CSRFMiddleware: AsyncMiddleware {
    let secureCookie: Bool

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method == .POST {
            struct Field: Decodable {
                var _csrf: String?
            }
            let sent = (try? request.content.decode(Field.self))?._csrf
            guard let expected = request.cookies[CSRF.cookie]?.string, let sent, !sent.isEmpty,
                  Self.constantTimeEqual(Array(sent.utf8), Array(expected.utf8))
            else { throw PageError.forbidden }
        }
        let response = try await next.respond(to: request)
        if let issued = request.storage[CSRF.IssuedKey.self] {
            response.cookies[CSRF.cookie] = HTTPCookies.Value(
                string: issued, path: "/", isSecure: secureCookie, isHTTPOnly: true, sameSite: .strict
            )
        }
        return response
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return zip(lhs, rhs).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
