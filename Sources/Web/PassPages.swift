import Foundation
import Leaf
import TicketingCore

extension Pages {
    struct HeldBody: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            var id: String
            var title: String
            var serial: Int
            var code: String
            var qr: String
            /// Its resale listing, if it has one: where it is, what it asks, whether a buyer holds it.
            var resaleId: String?
            var resalePrice: String?
            var resaleReserved: Bool
        }
        var tickets: [Row]
        /// The ticket a refused resale was for, and why.
        var failedId: String?
        var errors: [ErrorItem]
    }

    private struct PassJSON: Decodable {
        var serial: Int
        var code: String
    }

    /// The tickets the visitor holds, each with its pass as a QR code to show at the door, and its resale.
    @Sendable
    func listHeld(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        return try await heldPage(request)
    }

    private func heldPage(_ request: Request, failed: String? = nil, errors: [ErrorItem] = [], status: HTTPResponseStatus = .ok) async throws -> Response {
        let held = try await api.send(.GET, "/api/tickets/held?limit=100", as: request).decode([TicketJSON].self)
        var rows: [HeldBody.Row] = []
        // An id from the API still goes into a path only if it has the shape of one.
        for ticket in held where UUID(uuidString: ticket.id) != nil {
            let reply = try await api.send(.GET, "/api/tickets/\(ticket.id)/pass", as: request)
            // Resold between the two calls: no longer the visitor's to show.
            guard reply.isSuccess else { continue }
            let pass = try reply.decode(PassJSON.self)
            guard let qr = QRCode.dataURL(pass.code) else { throw PageError.broken }
            var row = HeldBody.Row(id: ticket.id, title: ticket.title, serial: pass.serial, code: pass.code, qr: qr, resaleReserved: false)
            if let resaleId = ticket.resaleId, UUID(uuidString: resaleId) != nil {
                let listing = try await api.send(.GET, "/api/tickets/\(resaleId)", as: request)
                if listing.isSuccess {
                    let resale = try listing.decode(TicketJSON.self)
                    row.resaleId = resaleId
                    row.resalePrice = resale.price.dollars
                    row.resaleReserved = resale.orderId != nil
                }
            }
            rows.append(row)
        }
        return try await render("held", "My tickets", HeldBody(tickets: rows, failedId: failed, errors: errors), on: request, status: status)
    }

    struct ResaleInput: Content {
        var price: String?
    }

    /// Lists a held ticket for resale at the price the visitor wrote; refusals (the cap) show on "My tickets".
    @Sendable
    func resell(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        guard let price = Money(written: try request.content.decode(ResaleInput.self).price ?? "") else {
            return try await heldPage(request, failed: id, errors: [ErrorItem(message: "Price must be a number, like 25, 1,500 or 19.99", field: "price")],
                                      status: .badRequest)
        }
        struct Resale: Encodable, Sendable {
            var price: Money
        }
        let reply = try await api.send(.POST, "/api/tickets/\(id)/resale", as: request, json: Resale(price: price))
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await heldPage(request, failed: id, errors: reply.errors, status: .badRequest)
        }
        return redirect("/tickets/held")
    }
}
