import Foundation
import Leaf
import TicketingCore

/// Every page of the site, rendered on the server from the services' APIs, called with the visitor's cookie.
struct Pages: RouteCollection, Sendable {
    let api: API
    let stripeJSURL: String
    let stripePublishableKey: String

    func boot(routes: any RoutesBuilder) throws {
        routes.get(use: index)
        let auth = routes.grouped("auth")
        auth.get("signup") { try await authForm($0, .signUp) }
        auth.post("signup") { try await authenticate($0, .signUp) }
        auth.get("signin") { try await authForm($0, .signIn) }
        auth.post("signin") { try await authenticate($0, .signIn) }
        auth.get("signout", use: signOutForm)
        auth.post("signout", use: signOut)
        routes.get("tickets", "held", use: listHeld)
        routes.get("tickets", "listed", use: listListed)
        routes.get("tickets", "new", use: newTicketForm)
        routes.post("tickets", "new", use: createTicket)
        routes.get("tickets", ":id", use: showTicket)
        routes.get("tickets", ":id", "edit", use: editForm)
        routes.post("tickets", ":id", "edit", use: edit)
        routes.post("tickets", ":id", "purchase", use: purchase)
        routes.post("tickets", ":id", "resale", use: resell)
        routes.post("tickets", ":id", "withdraw", use: withdraw)
        routes.get("orders", use: listOrders)
        routes.get("orders", ":id", use: showOrder)
        routes.post("orders", ":id", "pay", use: pay)
    }

    // MARK: - What every page shares

    struct Context<Body: Encodable & Sendable>: Encodable, Sendable {
        var title: String
        var user: CurrentUser?
        var csrf: String
        var body: Body
    }

    static func context<Body: Encodable & Sendable>(_ request: Request, _ title: String, _ body: Body) -> Context<Body> {
        Context(title: title, user: request.currentUser, csrf: request.application.csrf.token(for: request), body: body)
    }

    static func context(_ request: Request, _ values: [String: String]) -> Context<[String: String]> {
        context(request, values["title"] ?? "Ticketing", values)
    }

    func render<Body: Encodable & Sendable>(
        _ template: String, _ title: String, _ body: Body, on request: Request, status: HTTPResponseStatus = .ok
    ) async throws -> Response {
        try await request.view.render(template, Self.context(request, title, body)).encodeResponse(status: status, for: request)
    }

    /// A redirect after a form post (303, so the browser follows with a GET), only ever to a path of this site.
    func redirect(_ location: String, cookies: [String] = []) -> Response {
        let response = Response(status: .seeOther)
        response.headers.replaceOrAdd(name: .location, value: RedirectTarget.local(location))
        for cookie in cookies { response.headers.add(name: .setCookie, value: cookie) }
        return response
    }

    /// The `:id` of the path, which goes into API paths: only the characters an id has.
    func pathID(_ request: Request) throws -> String {
        let id = try request.parameters.require("id")
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { throw PageError.notFound }
        return id
    }

    /// Pages for signed-in visitors send others to sign in, and back here afterwards.
    func requireSignIn(_ request: Request) -> Response? {
        guard request.currentUser == nil else { return nil }
        return redirect("/auth/signin?next=" + (request.url.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
    }
}
