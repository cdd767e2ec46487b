import Foundation
import Leaf
import TicketingCore

extension Pages {
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

    /// Takes the visitor's own listing off sale, from its page (back to the listing) or from "My tickets".
    @Sendable
    func withdraw(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        let back = try request.content.decode(WithdrawInput.self).from == "held" ? "/tickets/held" : "/"
        let reply = try await api.send(.DELETE, "/api/tickets/\(id)", as: request)
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await ticketPage(request, errors: reply.errors, status: .badRequest)
        }
        return redirect(back)
    }
}
