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
        routes.get("tickets", "new", use: newTicketForm)
        routes.post("tickets", "new", use: createTicket)
        routes.get("tickets", ":id", use: showTicket)
        routes.post("tickets", ":id", "purchase", use: purchase)
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

    private func render<Body: Encodable & Sendable>(
        _ template: String, _ title: String, _ body: Body, on request: Request, status: HTTPResponseStatus = .ok
    ) async throws -> Response {
        try await request.view.render(template, Self.context(request, title, body)).encodeResponse(status: status, for: request)
    }

    /// A redirect after a form post (303, so the browser follows with a GET), only ever to a path of this site.
    private func redirect(_ location: String, cookies: [String] = []) -> Response {
        let response = Response(status: .seeOther)
        response.headers.replaceOrAdd(name: .location, value: RedirectTarget.local(location))
        for cookie in cookies { response.headers.add(name: .setCookie, value: cookie) }
        return response
    }

    /// The `:id` of the path, which goes into API paths: only the characters an id has.
    private func pathID(_ request: Request) throws -> String {
        let id = try request.parameters.require("id")
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { throw PageError.notFound }
        return id
    }

    /// Pages for signed-in visitors send others to sign in, and back here afterwards.
    private func requireSignIn(_ request: Request) -> Response? {
        guard request.currentUser == nil else { return nil }
        return redirect("/auth/signin?next=" + (request.url.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
    }

    // MARK: - Tickets for sale

    struct IndexBody: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            var id: String
            var title: String
            var price: String
        }
        var tickets: [Row]
    }

    @Sendable
    func index(_ request: Request) async throws -> Response {
        let reply = try await api.send(.GET, "/api/tickets?limit=200", as: request)
        let tickets = try reply.decode([TicketJSON].self)
        return try await render("index", "Tickets for sale", IndexBody(
            tickets: tickets.map { .init(id: $0.id, title: $0.title, price: $0.price.dollars) }
        ), on: request)
    }

    // MARK: - Sign up, sign in, sign out

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

    // MARK: - Selling

    struct NewTicketBody: Encodable, Sendable {
        var titleValue: String
        var priceValue: String
        var errors: [ErrorItem]
    }

    struct TicketInput: Content {
        var title: String?
        var price: String?
    }

    @Sendable
    func newTicketForm(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        return try await render("new-ticket", "Sell a ticket", NewTicketBody(titleValue: "", priceValue: "", errors: []), on: request)
    }

    @Sendable
    func createTicket(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let input = try request.content.decode(TicketInput.self)
        let title = input.title ?? ""
        func refuse(_ errors: [ErrorItem]) async throws -> Response {
            try await render("new-ticket", "Sell a ticket", NewTicketBody(titleValue: title, priceValue: input.price ?? "", errors: errors),
                             on: request, status: .badRequest)
        }
        // Read whole, as people write prices (`1500`, `1,500`, `$1,500.00`), or refused: never another amount.
        guard let price = Money(written: input.price ?? "") else {
            let negative = (input.price ?? "").trimmingCharacters(in: .whitespaces).hasPrefix("-")
            return try await refuse([ErrorItem(
                message: negative ? "Price must be greater than 0" : "Price must be a number, like 25, 1,500 or 19.99", field: "price"
            )])
        }
        struct NewTicket: Encodable, Sendable {
            var title: String
            var price: Money
        }
        let reply = try await api.send(.POST, "/api/tickets", as: request, json: NewTicket(title: title, price: price))
        guard reply.isSuccess else { return try await refuse(reply.errors) }
        return redirect("/")
    }

    // MARK: - Buying

    struct TicketBody: Encodable, Sendable {
        var id: String
        var title: String
        var price: String
        var reserved: Bool
        var ownTicket: Bool
        var errors: [ErrorItem]
    }

    private func ticketPage(_ request: Request, errors: [ErrorItem] = [], status: HTTPResponseStatus = .ok) async throws -> Response {
        let id = try pathID(request)
        let reply = try await api.send(.GET, "/api/tickets/\(id)", as: request)
        guard reply.isSuccess else { throw PageError.notFound }
        let ticket = try reply.decode(TicketJSON.self)
        return try await render("ticket", ticket.title, TicketBody(
            id: ticket.id, title: ticket.title, price: ticket.price.dollars, reserved: ticket.orderId != nil,
            ownTicket: ticket.userId == request.currentUser?.id, errors: errors
        ), on: request, status: status)
    }

    @Sendable
    func showTicket(_ request: Request) async throws -> Response {
        try await ticketPage(request)
    }

    @Sendable
    func purchase(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        struct NewOrder: Encodable, Sendable {
            var ticketId: String
        }
        let reply = try await api.send(.POST, "/api/orders", as: request, json: NewOrder(ticketId: id))
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await ticketPage(request, errors: reply.errors, status: .badRequest)
        }
        return redirect("/orders/\(try reply.decode(OrderJSON.self).id)")
    }

    // MARK: - My orders

    struct OrdersBody: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            var id: String
            var title: String
            var status: String
        }
        var orders: [Row]
    }

    /// The order's status in a buyer's words.
    static func statusText(_ order: OrderJSON) -> String {
        switch order.knownStatus {
        case .created, .awaitingPayment: "Awaiting payment"
        case .complete: "Paid"
        case .cancelled: "Cancelled"
        case nil: order.status
        }
    }

    @Sendable
    func listOrders(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        // The list pages oldest first; the page shows the newest, so it takes the longest page there is.
        let orders = try await api.send(.GET, "/api/orders?limit=1000", as: request).decode([OrderJSON].self)
        return try await render("orders", "My orders", OrdersBody(
            orders: orders.reversed().map { .init(id: $0.id, title: $0.ticket.title, status: Self.statusText($0)) }
        ), on: request)
    }

    struct OrderBody: Encodable, Sendable {
        var id: String
        var title: String
        var price: String
        var status: String
        var payable: Bool
        var complete: Bool
        var expiresAt: String
        var secondsLeft: Int
        var errors: [ErrorItem]
        var stripeJSURL: String
        var stripeKey: String
    }

    private func orderPage(_ request: Request, errors: [ErrorItem] = [], status: HTTPResponseStatus = .ok) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        let reply = try await api.send(.GET, "/api/orders/\(id)", as: request)
        // Someone else's order is as good as absent.
        guard reply.isSuccess else { throw PageError.notFound }
        let order = try reply.decode(OrderJSON.self)
        let secondsLeft = Int((ISOTimestamp.date(order.expiresAt)?.timeIntervalSinceNow ?? 0).rounded(.down))
        let payable = (order.knownStatus == .created || order.knownStatus == .awaitingPayment) && secondsLeft > 0
        return try await render("order", "Order for \(order.ticket.title)", OrderBody(
            id: order.id, title: order.ticket.title, price: order.ticket.price.dollars, status: Self.statusText(order),
            payable: payable, complete: order.knownStatus == .complete, expiresAt: order.expiresAt, secondsLeft: max(0, secondsLeft),
            errors: errors, stripeJSURL: stripeJSURL, stripeKey: stripePublishableKey
        ), on: request, status: status)
    }

    @Sendable
    func showOrder(_ request: Request) async throws -> Response {
        try await orderPage(request)
    }

    struct PaymentInput: Content {
        var token: String?
    }

    @Sendable
    func pay(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        struct NewPayment: Encodable, Sendable {
            var token: String
            var orderId: String
        }
        let token = try request.content.decode(PaymentInput.self).token ?? ""
        let reply = try await api.send(.POST, "/api/payments", as: request, json: NewPayment(token: token, orderId: id))
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await orderPage(request, errors: reply.errors, status: .badRequest)
        }
        // The order completes once the orders service has the payment: usually within milliseconds, so the
        // buyer lands on a page that already says so.
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            let order = try? await api.send(.GET, "/api/orders/\(id)", as: request).decode(OrderJSON.self)
            if order?.knownStatus == .complete { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return redirect("/orders/\(id)")
    }
}
