import FluentSQL
import SQLKit
import TicketingCore

struct TicketController: RouteCollection, Sendable {
    func boot(routes: any RoutesBuilder) throws {
        let tickets = routes.grouped("api", "tickets")
        tickets.get(use: list)
        tickets.get(":id", use: show)
        let signedIn = tickets.grouped(RequireAuthMiddleware())
        signedIn.get("listed", use: listed)
        signedIn.post(use: create)
        signedIn.put(":id", use: update)
        signedIn.delete(":id", use: withdraw)
    }

    /// Tickets for sale (not reserved, not withdrawn), a page at a time: `?limit=` (default 100, at most 1000) and
    /// `?after=<id of the last ticket seen>`, narrowed and ordered by `TicketSearch` (oldest first when it asks
    /// nothing). A full page carries a `Link: <…>; rel="next"` header that repeats the search.
    @Sendable
    func list(_ request: Request) async throws -> Response {
        let limit = try PageSize.read(request)
        let search = try TicketSearch(request)
        // Any ticket may be continued after, even one sold or withdrawn since; asked of the row alone, not decoded as a
        // model, which cost a deep page a third more of the service's time than a first one.
        let cursor = try await Paging.after(request, noun: "ticket") { id in
            try await request.sql.raw("SELECT 1 AS found FROM tickets WHERE id = \(bind: id)").first() != nil
        }
        let page = search.findsNothing ? [] : try await request.sql.raw(
            search.select(ListedTicket.columns, limit: limit, after: cursor, dialect: request.sql.dialect.name)
        ).all().map(ListedTicket.response)
        let response = Response(status: .ok, body: .init(buffer: ListedTicket.json(page)))
        response.headers.contentType = .json
        Paging.linkNext(response, path: "/api/tickets", limit: limit, count: page.count, lastID: page.last?.id,
                        parameters: search.linkParameters)
        return response
    }

    /// The current user's own listings that are not withdrawn, whether on sale, reserved or sold, newest first.
    @Sendable
    func listed(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        return try await OwnTickets.page(
            request, path: "/api/tickets/listed", where: "user_id = \(bind: user.id) AND withdrawn_at IS NULL", newestBy: "created_at"
        ) { $0.userId == user.id && $0.withdrawnAt == nil }
    }

    /// A ticket, as long as it is listed or was sold: a withdrawn listing is gone.
    @Sendable
    func show(_ request: Request) async throws -> TicketResponse {
        guard let ticket = try await Ticket.find(try request.parameters.id(), on: request.db), ticket.withdrawnAt == nil else {
            throw AppError.notFound
        }
        return try await TicketResponse.list([ticket], on: request.db)[0]
    }

    @Sendable
    func create(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let input = try ValidTicket(request.decodeBody(TicketInput.self))
        let ticket = Ticket(title: input.title, price: input.price, userId: user.id)
        try await request.transaction { tx in
            try await ticket.create(on: tx.db)
            try await tx.record(try ticket.createdEvent)
        }
        return try await TicketResponse(ticket).encodeResponse(status: .created, for: request)
    }

    /// Checks in the contract's order: signed in, valid input, exists, owner, not reserved. A resale keeps the title
    /// and price it was listed with, within the cap: to ask less, its holder withdraws it and lists it again.
    @Sendable
    func update(_ request: Request) async throws -> TicketResponse {
        let user = try request.requireUser()
        let input = try ValidTicket(request.decodeBody(TicketInput.self))
        return try await request.changeTicket(try request.parameters.id()) { ticket, tx in
            guard ticket.withdrawnAt == nil else { throw AppError.notFound }
            guard ticket.userId == user.id else { throw AppError.notAuthorized }
            guard ticket.orderId == nil else { throw AppError.badRequest("Cannot edit a reserved ticket") }
            guard ticket.resaleOf == nil else { throw AppError.badRequest("Cannot edit a resale: withdraw it and list it again") }
            ticket.title = input.title
            ticket.priceCents = input.price.cents
            try await ticket.saveNextVersion(on: tx.db)
            try await tx.record(try ticket.updatedEvent)
            return try TicketResponse(ticket)
        }
    }

    /// Takes an unreserved listing off sale for good (its owner only): 204, and again 204 if it already was.
    /// `ticket:updated` tells the orders service, which then refuses orders for it and cancels any that reached it
    /// before the news did.
    @Sendable
    func withdraw(_ request: Request) async throws -> HTTPStatus {
        let user = try request.requireUser()
        return try await request.changeTicket(try request.parameters.id()) { ticket, tx in
            guard ticket.userId == user.id else { throw AppError.notAuthorized }
            guard ticket.withdrawnAt == nil else { return .noContent }
            guard ticket.orderId == nil else { throw AppError.badRequest("Cannot withdraw a reserved ticket") }
            ticket.withdrawnAt = Date()
            try await ticket.saveNextVersion(on: tx.db)
            try await tx.record(try ticket.updatedEvent)
            return .noContent
        }
    }
}

extension Request {
    /// Runs `change` on the ticket, read for update in one transaction: 404 if there is none. The change writes only
    /// on top of the version read (`saveNextVersion`); if a reservation or another edit came first, it runs again on
    /// the new version.
    func changeTicket<Result: Sendable>(
        _ id: UUID, _ change: @escaping @Sendable (Ticket, UnitOfWork.Transaction) async throws -> Result
    ) async throws -> Result {
        for attempt in 1... {
            do {
                return try await transaction { tx in
                    guard let ticket = try await Ticket.findForUpdate(id, on: tx.db) else { throw AppError.notFound }
                    return try await change(ticket, tx)
                }
            } catch is StaleTicket where attempt < 5 {
                continue
            }
        }
        throw AppError.internalFailure
    }
}
