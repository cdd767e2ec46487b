import Foundation
import Leaf
import TicketingCore

extension Pages {
    /// The form that lists a ticket and the one that edits a listing.
    struct TicketFormBody: Encodable, Sendable {
        var action: String
        var button: String
        var titleValue: String
        var priceValue: String
        var errors: [ErrorItem]

        static func selling(_ title: String = "", _ price: String = "", errors: [ErrorItem] = []) -> Self {
            Self(action: "/tickets/new", button: "List ticket", titleValue: title, priceValue: price, errors: errors)
        }

        static func editing(_ id: String, _ title: String, _ price: String, errors: [ErrorItem] = []) -> Self {
            Self(action: "/tickets/\(id)/edit", button: "Save changes", titleValue: title, priceValue: price, errors: errors)
        }
    }

    struct TicketInput: Content {
        var title: String?
        var price: String?

        /// The API's body, or nil when the price is not one: read whole, as people write prices (`1500`, `1,500`,
        /// `$1,500.00`), or refused, never another amount.
        var body: NewTicket? {
            Money(written: price ?? "").map { NewTicket(title: title ?? "", price: $0) }
        }

        /// Why `body` is nil.
        var priceErrors: [ErrorItem] {
            let negative = (price ?? "").trimmingCharacters(in: .whitespaces).hasPrefix("-")
            return [ErrorItem(message: negative ? "Price must be greater than 0" : "Price must be a number, like 25, 1,500 or 19.99",
                              field: "price")]
        }
    }

    struct NewTicket: Encodable, Sendable {
        var title: String
        var price: Money
    }

    @Sendable
    func newTicketForm(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        return try await render("ticket-form", "Sell a ticket", TicketFormBody.selling(), on: request)
    }

    @Sendable
    func createTicket(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let input = try request.content.decode(TicketInput.self)
        func refuse(_ errors: [ErrorItem]) async throws -> Response {
            try await render("ticket-form", "Sell a ticket", TicketFormBody.selling(input.title ?? "", input.price ?? "", errors: errors),
                             on: request, status: .badRequest)
        }
        guard let body = input.body else { return try await refuse(input.priceErrors) }
        let reply = try await api.send(.POST, "/api/tickets", as: request, json: body)
        guard reply.isSuccess else { return try await refuse(reply.errors) }
        return redirect("/tickets/listed")
    }

    // MARK: - Buying

    struct TicketBody: Encodable, Sendable {
        var id: String
        var title: String
        var price: String
        var reserved: Bool
        var ownTicket: Bool
        /// On a resale: what its holder paid.
        var faceValue: String?
        var errors: [ErrorItem]
    }

    private func ticketPage(_ request: Request, errors: [ErrorItem] = [], status: HTTPResponseStatus = .ok) async throws -> Response {
        let id = try pathID(request)
        let reply = try await api.send(.GET, "/api/tickets/\(id)", as: request)
        guard reply.isSuccess else { throw PageError.notFound }
        let ticket = try reply.decode(TicketJSON.self)
        return try await render("ticket", ticket.title, TicketBody(
            id: ticket.id, title: ticket.title, price: ticket.price.dollars, reserved: ticket.orderId != nil,
            ownTicket: ticket.userId == request.currentUser?.id, faceValue: ticket.faceValue?.dollars, errors: errors
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

    struct WithdrawInput: Content {
        var from: String?
    }

    /// Takes the visitor's own listing off sale, from its page (back to the listing), "My tickets" or "My listings".
    @Sendable
    func withdraw(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        let back = switch try request.content.decode(WithdrawInput.self).from {
        case "held": "/tickets/held"
        case "listed": "/tickets/listed"
        default: "/"
        }
        let reply = try await api.send(.DELETE, "/api/tickets/\(id)", as: request)
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await ticketPage(request, errors: reply.errors, status: .badRequest)
        }
        return redirect(back)
    }
}
