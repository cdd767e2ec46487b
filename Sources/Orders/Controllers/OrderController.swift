import FluentKit
import TicketingCore

struct OrderController: RouteCollection, Sendable {
    let expirationWindow: TimeInterval
    let reservations: Reservations

    func boot(routes: any RoutesBuilder) throws {
        let orders = routes.grouped("api", "orders").grouped(RequireAuthMiddleware())
        orders.get(use: list)
        orders.post(use: create)
        orders.get(":id", use: show)
        orders.delete(":id", use: cancel)
    }

    @Sendable
    func list(_ request: Request) async throws -> [OrderResponse] {
        let user = try request.requireUser()
        let orders = try await Order.query(on: request.db).filter(\.$userId == user.id).sort(\.$createdAt).sort(\.$id).all()
        let tickets = try await ReplicatedTicket.query(on: request.db).filter(\.$id ~~ Array(Set(orders.map(\.ticketId)))).all()
        let byId = Dictionary(tickets.map { ($0.id ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        return orders.compactMap { order in byId[order.ticketId].map { OrderResponse(order, $0) } }
    }

    /// Reserves a ticket. Whether it is free is decided by the unique index on active orders, not by a prior read:
    /// of many simultaneous requests for one ticket exactly one commits (see `Reservations`).
    @Sendable
    func create(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let ticketId = Validate.trimmed(try request.decodeBody(NewOrderInput.self).ticketId)
        guard !ticketId.isEmpty else {
            throw AppError.invalid([ErrorItem(message: "TicketId must be provided", field: "ticketId")])
        }
        guard let ticket = try await ReplicatedTicket.lookup(ticketId.lowercased(), on: request.db) else { throw AppError.notFound }
        let order = Order(userId: user.id, ticketId: try ticket.requireID(), expiresAt: Date().addingTimeInterval(expirationWindow))
        guard try await reservations.reserve(order, price: ticket.price, on: request.db) else {
            throw AppError.badRequest("Ticket is already reserved")
        }
        request.application.events?.relay.wake()
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
        let outcome = try await request.transaction { tx in try await Order.cancel(try order.requireID(), on: tx) }
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
