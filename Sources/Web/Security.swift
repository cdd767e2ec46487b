import Foundation
import TicketingCore

/// Where a form may send a visitor afterwards: a path on this site, or the home page. The one place that decides,
/// because the value comes from the visitor (`next`) and ends up in the `Location` header.
///
/// Accepted: `/` followed by the characters a URL path and query may hold unescaped (RFC 3986), at most 1,024 of
/// them. Refused: anything else, which covers CR and LF (a second header), tab and other controls (which browsers
/// drop, so `/\t/evil.example` would become `//evil.example`), `\` (read as `/`), non-ASCII, and a second leading
/// `/` (another host).
enum RedirectTarget {
    static let home = "/"

    static func local(_ candidate: String?) -> String {
        guard let candidate, isLocal(candidate) else { return home }
        return candidate
    }

    static func isLocal(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        guard (1...1_024).contains(bytes.count), bytes[0] == UInt8(ascii: "/") else { return false }
        if bytes.count > 1, bytes[1] == UInt8(ascii: "/") { return false }
        return bytes.allSatisfy(allowed.contains)
    }

    private static let allowed = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%#".utf8
    )
}

/// The headers every page carries: what it may load (its own scripts and styles, and Stripe.js for the card form),
/// that no other site may frame it (clickjacking the Purchase and Pay buttons), no content sniffing, a referrer
/// policy that tells other sites the origin at most, and HSTS where the session cookie is `Secure` (HTTPS).
struct PageHeadersMiddleware: AsyncMiddleware {
    let contentSecurityPolicy: String
    let strictTransportSecurity: Bool

    init(stripeJSURL: String, secure: Bool) {
        let stripe = Self.origin(of: stripeJSURL) ?? "https://js.stripe.com"
        // Real Stripe.js frames and calls Stripe's own hosts (its documented CSP); the local emulator serves the
        // script and answers its calls from one origin.
        let isStripe = stripe == "https://js.stripe.com"
        let scripts = isStripe ? "https://js.stripe.com https://*.js.stripe.com" : stripe
        let frames = isStripe ? "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com" : stripe
        let connects = isStripe ? "https://api.stripe.com" : stripe
        contentSecurityPolicy = [
            "default-src 'none'", "script-src 'self' \(scripts)", "style-src 'self'", "img-src 'self' data:",
            "connect-src 'self' \(connects)", "frame-src \(frames)", "form-action 'self'", "frame-ancestors 'none'",
            "base-uri 'none'",
        ].joined(separator: "; ")
        strictTransportSecurity = secure
    }

    /// `scheme://host[:port]` of a URL, or nil when it has none.
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: contentSecurityPolicy)
        response.headers.replaceOrAdd(name: "X-Frame-Options", value: "DENY")
        response.headers.replaceOrAdd(name: "Referrer-Policy", value: "strict-origin-when-cross-origin")
        if strictTransportSecurity {
            response.headers.replaceOrAdd(name: "Strict-Transport-Security", value: "max-age=31536000; includeSubDomains")
        }
        return response
    }
}

/// The web front end keeps no database, so it cannot hold the list of signed-out sessions itself: for a visitor
/// whose token verifies, it asks the auth service whether the session still stands (`GET /api/users/currentuser`),
/// and treats one signed out there as signed out here. If auth cannot be reached the token's signature decides, as
/// before: every API call the page makes is still refused by the services that hold the list.
struct SessionStillValidMiddleware: AsyncMiddleware {
    let api: API

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.currentUser != nil {
            struct Current: Decodable {
                var currentUser: CurrentUser?
            }
            if let reply = try? await api.send(.GET, "/api/users/currentuser", as: request), reply.isSuccess,
               let current = try? reply.decode(Current.self), current.currentUser == nil {
                request.currentUser = nil
                request.verifiedSession = nil
            }
        }
        return try await next.respond(to: request)
    }
}
