import Foundation
import JetStream
@testable import Payments
import TicketingCore
import TicketingTesting
import XCTVapor

/// Payments against the local Stripe emulator, one per test class, with orders arriving as `order:created` events.
class PaymentTestCase: XCTestCase {
    nonisolated(unsafe) static var stripe: StripeEmulator!

    override class func setUp() {
        stripe = try! StripeEmulator()
        try! stripe.start()
    }

    override class func tearDown() {
        stripe = nil
    }

    func withPayments(tuning: EventTuning = EventTuning(), _ body: (Application, InMemoryBus) async throws -> Void) async throws {
        var config = TestSupport.config(service: "payments")
        config.stripeAPIBase = Self.stripe.baseURL
        let bus = InMemoryBus()
        try await TestSupport.withApp(service: "payments", config: config, configure: { app, config in
            try await app.wireForTesting(.payments, config, bus: bus, tuning: tuning)
        }) { app in
            try await app.asyncBoot()
            try await body(app, bus)
        }
    }

    /// An order for `buyer` that the orders service announced; returns its id once the replica has it.
    func order(_ app: Application, _ bus: InMemoryBus, for buyer: TestClient, cents: Int64 = 2_000, expiresIn: TimeInterval = 900) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let event = OrderCreatedEvent(
            id: id, version: 0, status: .created, userId: buyer.userId, expiresAt: ISOTimestamp.string(Date().addingTimeInterval(expiresIn)),
            ticket: .init(id: UUID().uuidString.lowercased(), price: Money(cents: cents))
        )
        try await bus.publish([OutgoingMessage(subject: Subject.orderCreated.rawValue, id: UUID().uuidString, data: try event.encoded())])
        try await eventually { try await ReplicatedOrder.findForUpdate(id, on: app.db) != nil }
        return id
    }

    func pay(_ buyer: TestClient, _ orderId: String, token: String = "pm_card_visa") async throws -> XCTHTTPResponse {
        try await buyer.send(.POST, "/api/payments", json: #"{"token": "\#(token)", "orderId": "\#(orderId)"}"#)
    }

    /// The service's own Stripe client, pointed at the emulator.
    func stripeClient(_ app: Application) -> StripeClient {
        StripeClient(client: app.tracedClient, base: Self.stripe.baseURL, key: "sk_test_local")
    }

    /// Calls the emulator directly, as a test's view of what Stripe holds.
    func stripeCall(_ app: Application, _ method: HTTPMethod, _ path: String, form: [String: String] = [:]) async throws -> [String: Any] {
        var request = ClientRequest(method: method, url: URI(string: Self.stripe.baseURL + path), headers: ["Authorization": "Bearer sk_test_local"])
        if method == .POST {
            request.headers.contentType = .urlEncodedForm
            request.body = ByteBuffer(string: StripeClient.formEncode(form))
        }
        let response = try await app.client.send(request)
        return (try JSONSerialization.jsonObject(with: Data(buffer: response.body ?? ByteBuffer())) as? [String: Any]) ?? [:]
    }

    /// The charges Stripe made of `cents` (each test uses its own amount, so they are this test's).
    func charges(_ app: Application, cents: Int64) async throws -> [[String: Any]] {
        let list = try await stripeCall(app, .GET, "/v1/charges?limit=100")
        return (list["data"] as? [[String: Any]] ?? []).filter { ($0["amount"] as? Int).map(Int64.init) == cents && $0["status"] as? String == "succeeded" }
    }

    func cardToken(_ app: Application, number: String = "4242424242424242") async throws -> String {
        let token = try await stripeCall(app, .POST, "/v1/tokens", form: [
            "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030", "card[cvc]": "123",
        ])
        return try XCTUnwrap(token["id"] as? String)
    }
}
