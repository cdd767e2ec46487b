import TicketingCore

struct NewPaymentInput: Decodable {
    var token: String?
    var orderId: String?
}

struct PaymentResponse: Content {
    var id: String
}

struct PaymentController: RouteCollection, Sendable {
    let checkout: Checkout

    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("api", "payments").grouped(RequireAuthMiddleware()).post(use: create)
    }

    /// Pays an order: 201 once Stripe has charged it and the payment is recorded with its `payment:created`.
    @Sendable
    func create(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        let input = try request.decodeBody(NewPaymentInput.self)
        let token = Validate.trimmed(input.token)
        let orderId = Validate.trimmed(input.orderId).lowercased()
        var errors: [ErrorItem] = []
        if token.isEmpty { errors.append(ErrorItem(message: "Token must be provided", field: "token")) }
        if orderId.isEmpty { errors.append(ErrorItem(message: "OrderId must be provided", field: "orderId")) }
        guard errors.isEmpty else { throw AppError.invalid(errors) }
        let id = try await checkout.pay(orderId: orderId, token: token, userId: user.id, on: request.db)
        return try await PaymentResponse(id: id).encodeResponse(status: .created, for: request)
    }
}
