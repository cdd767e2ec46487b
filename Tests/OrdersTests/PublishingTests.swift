import Foundation
import JetStream
@testable import Orders
import TicketingCore
import TicketingTesting
import XCTVapor

/// Events go out as soon as their transaction commits, on every path that writes them, not at the relay's next poll.
final class OrdersPublishingTests: XCTestCase {
    func testReservingAndCancellingPublishWithoutWaitingForThePoll() async throws {
        try await withOrders(tuning: .wakeOnly) { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            var orderId = ""
            let reserved = try await secondsToPublish(OrderCreatedEvent.self, on: bus) {
                orderId = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as? String ?? ""
            }
            let cancelled = try await secondsToPublish(OrderCancelledEvent.self, on: bus) {
                let status = try await buyer.send(.DELETE, "/api/orders/\(orderId)").status
                XCTAssertEqual(status, .noContent)
            }
            let expired = try await secondsToPublish(OrderCancelledEvent.self, on: bus) {
                let second = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as? String ?? ""
                let expiry = ExpirationCompleteEvent(orderId: second)
                try await bus.publish([OutgoingMessage(subject: Subject.expirationComplete.rawValue, id: UUID().uuidString, data: try expiry.encoded())])
            }
            XCTAssertLessThan(reserved, 0.5, "POST /api/orders: \(reserved) s against a 60 s poll")
            XCTAssertLessThan(cancelled, 0.5, "DELETE /api/orders/:id: \(cancelled) s against a 60 s poll")
            XCTAssertLessThan(expired, 0.5, "expiration:complete → order:cancelled: \(expired) s against a 60 s poll")
        }
    }
}
