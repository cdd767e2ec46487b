import FluentSQL
import SQLKit
import TicketingCore

struct TicketController: RouteCollection, Sendable {
    func boot(routes: any RoutesBuilder) throws {
        let tickets = routes.grouped("api", "tickets")
        tickets.get(use: list)
        tickets.get(":id", use: show)
        let signedIn = tickets.grouped(RequireAuthMiddleware())
        signedIn.post(use: create)
        signedIn.put(":id", use: update)
    }

    /// Tickets for sale (not reserved), oldest first, a page at a time: `?limit=` (default 100, at most 1000) and
    /// `?after=<id of the last ticket seen>`. A full page carries a `Link: <…>; rel="next"` header.
    @Sendable
    func list(_ request: Request) async throws -> Response {
        let limit = try PageSize.read(request)
        let cursor = try await Paging.after(request, noun: "ticket") { try await Ticket.find($0, on: request.db) != nil }
        // The cursor compares stored values with stored values, so no timestamp is rounded on the way.
        let continuing: SQLQueryString = cursor.map { "AND (created_at, id) > (SELECT created_at, id FROM tickets WHERE id = \(bind: $0))" } ?? ""
        let page = try await request.sql.raw("""
            SELECT * FROM tickets WHERE order_id IS NULL \(continuing)
            ORDER BY created_at, id LIMIT \(unsafeRaw: String(limit))
            """).all(decodingFluent: Ticket.self).map(TicketResponse.init)
        let response = try await page.encodeResponse(for: request)
        Paging.linkNext(response, path: "/api/tickets", limit: limit, count: page.count, lastID: page.last?.id)
        return response
    }

    @Sendable
    func show(_ request: Request) async throws -> TicketResponse {
        guard let ticket = try await Ticket.find(try request.parameters.id(), on: request.db) else { throw AppError.notFound }
        return try TicketResponse(ticket)
    }

    @Sendable
    func create(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let input = try ValidTicket(request.decodeBody(TicketInput.self))
        let ticket = Ticket(title: input.title, price: input.price, userId: user.id)
        try await request.transaction { tx in
            try await ticket.create(on: tx.db)
            try await tx.record(
                TicketCreatedEvent(id: try ticket.requireID().uuidString.lowercased(), version: ticket.version,
                                   title: ticket.title, price: ticket.price, userId: ticket.userId)
            )
        }
        return try await TicketResponse(ticket).encodeResponse(status: .created, for: request)
    }

    /// Checks in the contract's order: signed in, valid input, exists, owner, not reserved. The write applies only
    /// on top of the version read; if a reservation or another edit came first, it is checked again from the start.
    @Sendable
    func update(_ request: Request) async throws -> TicketResponse {
        let user = try request.requireUser()
        let input = try ValidTicket(request.decodeBody(TicketInput.self))
        let id = try request.parameters.id()
        for attempt in 1... {
            do {
                return try await request.transaction { tx in
                    guard let ticket = try await Ticket.findForUpdate(id, on: tx.db) else { throw AppError.notFound }
                    guard ticket.userId == user.id else { throw AppError.notAuthorized }
                    guard ticket.orderId == nil else { throw AppError.badRequest("Cannot edit a reserved ticket") }
                    ticket.title = input.title
                    ticket.priceCents = input.price.cents
                    try await ticket.saveNextVersion(on: tx.db)
                    try await tx.record(try ticket.updatedEvent)
                    return try TicketResponse(ticket)
                }
            } catch is StaleTicket where attempt < 5 {
                continue
            }
        }
        throw AppError.internalFailure
    }
}
