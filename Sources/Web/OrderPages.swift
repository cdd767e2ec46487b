import Foundation
import Leaf
import TicketingCore

extension Pages {
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
        /// `14:57`, as the page's script counts it down.
        var timeLeft: String
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
            payable: payable, complete: order.knownStatus == .complete, expiresAt: order.expiresAt,
            timeLeft: Self.minutesAndSeconds(max(0, secondsLeft)),
            errors: errors, stripeJSURL: stripeJSURL, stripeKey: stripePublishableKey
        ), on: request, status: status)
    }

    static func minutesAndSeconds(_ seconds: Int) -> String {
        "\(seconds / 60):" + (seconds % 60 < 10 ? "0" : "") + "\(seconds % 60)"
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
