import Foundation
import JetStream
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// The reservation rules: `order:created` reserves, `order:cancelled` frees only for the holding order,
/// and order events apply in their version order whatever order they arrive in.
final class TicketListenerTests: XCTestCase {
    func created(_ orderId: String, ticket: String) -> OrderCreatedEvent {
        OrderCreatedEvent(id: orderId, version: 0, status: .created, userId: "buyer", expiresAt: "2026-11-23T10:00:00.000Z",
                          ticket: .init(id: ticket, price: Money(cents: 2000)))
    }

    func cancelled(_ orderId: String, ticket: String) -> OrderCancelledEvent {
        OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: ticket))
    }

    func ticket(_ app: Application, _ id: String) async throws -> [String: Any] {
        try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object
    }

    func testOrderCreatedReservesTheTicketAndAnnouncesIt() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            let outcome = try await apply(OrderCreatedListener(), created("order-1", ticket: id), app)
            XCTAssertEqual(outcome, .done)
            let reserved = try await ticket(app, id)
            XCTAssertEqual(reserved["orderId"] as? String, "order-1")
            XCTAssertEqual(reserved["version"] as? Int, 1)
            try await eventually { bus.events(TicketUpdatedEvent.self).count == 1 }
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).first?.orderId, "order-1")
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).first?.version, 1)

            let listed = try await TestClient.signedOut(app).send(.GET, "/api/tickets")
            XCTAssertEqual((listed.json as? [Any])?.count, 0, "a reserved ticket is not listed")

            // The same event again changes nothing.
            try await assertEqual(try await apply(OrderCreatedListener(), created("order-1", ticket: id), app), .done)
            let again = try await ticket(app, id)
            XCTAssertEqual(again["version"] as? Int, 1)
        }
    }

    func testOrderCancelledFreesOnlyTheTicketItsOrderHolds() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            _ = try await apply(OrderCreatedListener(), created("holder", ticket: id), app)

            // An order this service saw, but which never held the ticket, is cancelled: the reservation stays.
            try await app.sql.raw("INSERT INTO order_versions (order_id, version) VALUES ('other', 0)").run()
            try await assertEqual(try await apply(OrderCancelledListener(), cancelled("other", ticket: id), app), .done)
            let stillHeld = try await ticket(app, id)
            XCTAssertEqual(stillHeld["orderId"] as? String, "holder")
            XCTAssertEqual(stillHeld["version"] as? Int, 1)

            try await assertEqual(try await apply(OrderCancelledListener(), cancelled("holder", ticket: id), app), .done)
            let freed = try await ticket(app, id)
            XCTAssertNil(freed["orderId"])
            XCTAssertEqual(freed["version"] as? Int, 2)
            try await eventually { bus.events(TicketUpdatedEvent.self).count == 2 }
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).map(\.orderId), ["holder", nil])

            // Delivered again, the cancellation changes nothing.
            try await assertEqual(try await apply(OrderCancelledListener(), cancelled("holder", ticket: id), app), .done)
            let after = try await ticket(app, id)
            XCTAssertEqual(after["version"] as? Int, 2)
        }
    }

    func testACancellationThatOvertakesItsCreationWaitsForIt() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            try await assertEqual(try await apply(OrderCancelledListener(), cancelled("quick", ticket: id), app), .retryLater)
            try await assertEqual(try await apply(OrderCreatedListener(), created("quick", ticket: id), app), .done)
            try await assertEqual(try await apply(OrderCancelledListener(), cancelled("quick", ticket: id), app), .done)
            let final = try await ticket(app, id)
            XCTAssertNil(final["orderId"], "the ticket must not stay reserved for a cancelled order")
        }
    }

    func testANewOrderWaitsUntilThePreviousHoldersCancellationArrives() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            _ = try await apply(OrderCreatedListener(), created("first", ticket: id), app)
            try await assertEqual(try await apply(OrderCreatedListener(), created("second", ticket: id), app), .retryLater)
            _ = try await apply(OrderCancelledListener(), cancelled("first", ticket: id), app)
            try await assertEqual(try await apply(OrderCreatedListener(), created("second", ticket: id), app), .done)
            let final = try await ticket(app, id)
            XCTAssertEqual(final["orderId"] as? String, "second")
            XCTAssertEqual(final["version"] as? Int, 3)
        }
    }

    func testAnOrderForAnUnknownTicketFailsSoItIsRetriedAndThenParked() async throws {
        try await withTickets { app, _ in
            do {
                _ = try await apply(OrderCreatedListener(), created("o", ticket: UUID().uuidString), app)
                XCTFail("an unknown ticket must not be acknowledged as done")
            } catch is UnknownTicket {}
        }
    }

    func testReservationsArriveThroughTheBusAndApplyOnce() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            let event = created("bus-order", ticket: id)
            let message = OutgoingMessage(subject: Subject.orderCreated.rawValue, id: "evt-1", data: try event.encoded())
            try await bus.publish([message])
            try await eventually { try await self.ticket(app, id)["orderId"] as? String == "bus-order" }
            let reserved = try await ticket(app, id)
            XCTAssertEqual(reserved["version"] as? Int, 1)
        }
    }

    /// Every service with signed-in routes refuses a signed-out session once `session:revoked` reaches it.
    func testASessionRevokedEventSignsTheSessionOutWithinTwoSeconds() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            try await assertEqual(try await seller.send(.POST, "/api/tickets", json: #"{"title": "a", "price": 5}"#).status, .created)
            let jwt = try XCTUnwrap(SessionCookie.decode(String(seller.cookie!.dropFirst("session=".count))))
            let event = SessionRevokedEvent(sessionId: SignedToken.id(jwt), expiresAt: ISOTimestamp.string(Date().addingTimeInterval(3600)))
            let revokedAt = Date()
            try await bus.publish([OutgoingMessage(subject: Subject.sessionRevoked.rawValue, id: UUID().uuidString, data: try event.encoded())])
            try await eventually(timeout: 2.5) {
                try await seller.send(.POST, "/api/tickets", json: #"{"title": "b", "price": 5}"#).status == .unauthorized
            }
            XCTAssertLessThan(Date().timeIntervalSince(revokedAt), 2.5)
        }
    }
}
