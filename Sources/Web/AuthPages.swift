import Foundation
import Leaf
import TicketingCore

extension Pages {
    enum AuthKind: String, Sendable {
        case signUp = "signup", signIn = "signin"
        var title: String { self == .signUp ? "Sign up" : "Sign in" }
    }

    struct AuthBody: Encodable, Sendable {
        var action: String
        var heading: String
        var email: String
        var next: String
        var errors: [ErrorItem]
        var passwordAutocomplete: String
    }

    struct AuthInput: Content {
        var email: String?
        var password: String?
        var next: String?
    }

    private func authBody(_ kind: AuthKind, email: String = "", next: String, errors: [ErrorItem] = []) -> AuthBody {
        AuthBody(action: "/auth/\(kind.rawValue)", heading: kind.title, email: email, next: next, errors: errors,
                 passwordAutocomplete: kind == .signUp ? "new-password" : "current-password")
    }

    @Sendable
    func authForm(_ request: Request, _ kind: AuthKind) async throws -> Response {
        let next = RedirectTarget.local(request.query[String.self, at: "next"])
        return try await render("auth", kind.title, authBody(kind, next: next), on: request)
    }

    @Sendable
    func authenticate(_ request: Request, _ kind: AuthKind) async throws -> Response {
        let input = try request.content.decode(AuthInput.self)
        let next = RedirectTarget.local(input.next)
        struct Credentials: Encodable, Sendable {
            var email: String
            var password: String
        }
        let reply = try await api.send(.POST, "/api/users/\(kind.rawValue)", as: request,
                                       json: Credentials(email: input.email ?? "", password: input.password ?? ""))
        guard reply.isSuccess else {
            return try await render("auth", kind.title, authBody(kind, email: input.email ?? "", next: next, errors: reply.errors),
                                    on: request, status: reply.status == .tooManyRequests ? .tooManyRequests : .badRequest)
        }
        // The auth service's own session cookie, with the contract's flags, passed on to the browser.
        return redirect(next, cookies: reply.setCookies)
    }

    @Sendable
    func signOutForm(_ request: Request) async throws -> Response {
        try await render("signout", "Sign out", [String: String](), on: request)
    }

    @Sendable
    func signOut(_ request: Request) async throws -> Response {
        let reply = try await api.send(.POST, "/api/users/signout", as: request)
        return redirect("/", cookies: reply.setCookies)
    }
}
