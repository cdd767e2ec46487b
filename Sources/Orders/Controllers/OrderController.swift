import FluentKit
import SQLKit
import TicketingCore

struct OrderController: RouteCollection, Sendable {
    let expirationWindow: TimeInterval
    let reservations: Reservations
    /// `ACTIVE_ORDERS_PER_USER`, for the refusal's message.
    let maxHeld: Int

    func boot(routes: any RoutesBuilder) throws {
        let orders = routes.grouped("api", "orders").grouped(RequireAuthMiddleware())
        orders.get(use: list)
        orders.post(use: create)
        orders.get(":id", use: show)
        orders.delete(":id", use: cancel)
    }

    /// The user's orders, oldest first, a page at a time, as the tickets list pages: `?limit=` (default 100, at
    /// most 1000) and `?after=<id of the last order seen>`. A full page carries a `Link: <…>; rel="next"` header.
    @Sendable
    func list(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let limit = try PageSize.read(request)
        let cursor = try await Paging.after(request, noun: "order") { try await Order.find($0, on: request.db)?.userId == user.id }
        let continuing: SQLQueryString = cursor.map { "AND (created_at, id) > (SELECT created_at, id FROM orders WHERE id = \(bind: $0))" } ?? ""
        let orders = try await request.db.sql.raw("""
            SELECT * FROM orders WHERE user_id = \(bind: user.id) \(continuing)
            ORDER BY created_at, id LIMIT \(unsafeRaw: String(limit))
            """).all(decodingFluent: Order.self)
        let tickets = try await ReplicatedTicket.query(on: request.db).filter(\.$id ~~ Array(Set(orders.map(\.ticketId)))).all()
        let byId = Dictionary(tickets.map { ($0.id ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        let page = orders.compactMap { order in byId[order.ticketId].map { OrderResponse(order, $0) } }
        let response = try await page.encodeResponse(for: request)
        Paging.linkNext(response, path: "/api/orders", limit: limit, count: orders.count, lastID: orders.last?.idString)
        return response
    }

    /// Reserves a ticket. Whether it is free is decided by the unique index on active orders, not by a prior read:
    /// of many simultaneous requests for one ticket exactly one commits (see `Reservations`). The order keeps the
    /// price it was made at: what the buyer sees and pays, whatever the seller edits later.
    @Sendable
    func create(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let ticketId = Validate.trimmed(try request.decodeBody(NewOrderInput.self).ticketId)
        guard !ticketId.isEmpty else {
            throw AppError.invalid([ErrorItem(message: "TicketId must be provided", field: "ticketId")])
        }
        guard let ticket = try await ReplicatedTicket.lookup(ticketId.lowercased(), on: request.db), !ticket.withdrawn else {
            throw AppError.notFound
        }
        if ticket.userId == user.id { throw AppError.badRequest("Cannot order your own ticket") }
        let order = Order(
            userId: user.id, ticketId: try ticket.requireID(), price: ticket.price,
            expiresAt: Date().addingTimeInterval(expirationWindow)
        )
        switch try await reservations.reserve(order, on: request.db) {
        case .reserved: break
        case .taken: throw AppError.badRequest("Ticket is already reserved")
        case .withdrawn: throw AppError.notFound
        case .holdingTooMany:
            throw AppError.badRequest("You can hold at most \(maxHeld) reservations at once: pay for or cancel one first")
        case .tooFrequent(let retryAfter):
            throw AppError.tooManyRequests("Too many orders, try again later", retryAfter: retryAfter)
        }
        return try await OrderResponse(order, ticket).encodeResponse(status: .created, for: request)
    }

    @Sendable
    func show(_ request: Request) async throws -> OrderResponse {
        let order = try await ownedOrder(request)
        guard let ticket = try await ReplicatedTicket.find(order.ticketId, on: request.db) else { throw AppError.notFound }
        return OrderResponse(order, ticket)
    }

    /// Cancels the order: 204 whether it was active or already cancelled (only the first publishes), 400 once paid.
    @Sendable
    func cancel(_ request: Request) async throws -> HTTPStatus {
        let order = try await ownedOrder(request)
        let outcome = try await request.transaction { tx in try await Order.cancel(try order.requireID(), in: tx) }
        if outcome == .complete { throw AppError.badRequest("Cannot cancel a completed order") }
        return .noContent
    }

    private func ownedOrder(_ request: Request) async throws -> Order {
        let user = try request.requireUser()
        guard let order = try await Order.find(try request.parameters.id(), on: request.db) else { throw AppError.notFound }
        guard order.userId == user.id else { throw AppError.notAuthorized }
        return order
    }
}
