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
        }
        var tickets: [Row]
    }

    private struct PassJSON: Decodable {
        var serial: Int
        var code: String
    }

    /// The tickets the visitor holds, each with its pass as a QR code to show at the door.
    @Sendable
    func listHeld(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let held = try await api.send(.GET, "/api/tickets/held?limit=100", as: request).decode([TicketJSON].self)
        var rows: [HeldBody.Row] = []
        // An id from the API still goes into a path only if it has the shape of one.
        for ticket in held where UUID(uuidString: ticket.id) != nil {
            let reply = try await api.send(.GET, "/api/tickets/\(ticket.id)/pass", as: request)
            // Resold or withdrawn between the two calls: no longer the visitor's to show.
            guard reply.isSuccess else { continue }
            let pass = try reply.decode(PassJSON.self)
            guard let qr = QRCode.dataURL(pass.code) else { throw PageError.broken }
            rows.append(.init(id: ticket.id, title: ticket.title, serial: pass.serial, code: pass.code, qr: qr))
        }
        return try await render("held", "My tickets", HeldBody(tickets: rows), on: request)
    }
}
