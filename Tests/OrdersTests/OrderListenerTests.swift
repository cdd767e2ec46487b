import Foundation
@testable import Orders
import TicketingCore
import TicketingTesting
import XCTVapor

final class OrderListenerTests: XCTestCase {
    func updated(_ id: String, version: Int, title: String) -> TicketUpdatedEvent {
        TicketUpdatedEvent(id: id, version: version, title: title, price: Money(cents: 3000), userId: "seller", orderId: nil)
    }

    /// A holder's resale listing in the replica, as `ticket:created` brings it, and another user's order for it.
    func orderedResale(_ app: Application) async throws -> (ticketId: String, buyer: TestClient, orderId: String) {
        let ticketId = UUID().uuidString.lowercased()
        let listed = TicketCreatedEvent(id: ticketId, version: 0, title: "Resold", price: Money(cents: 2000), userId: "holder",
                                        resaleOf: UUID().uuidString.lowercased())
        try await assertEqual(try await apply(TicketCreatedListener(), listed, app), .done)
        let buyer = try await TestClient.signedIn(app)
        let order = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
        XCTAssertEqual(order.status, .created, order.body.string)
        return (ticketId, buyer, try XCTUnwrap(order.object["id"] as? String))
    }

    func replica(_ app: Application, _ id: String) async throws -> ReplicatedTicket? {
        try await ReplicatedTicket.find(id, on: app.db)
    }

    func testTicketUpdatesApplyOnlyOnTopOfTheVersionBefore() async throws {
        try await withOrders { app, bus in
            let id = try await replicate(app, bus, title: "v0")
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 2, title: "v2"), app), .retryLater)
            try await assertEqual(try await replica(app, id)?.title, "v0", "an early version waits")
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 1, title: "v1"), app), .done)
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 2, title: "v2"), app), .done)
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 1, title: "old"), app), .done)
            let ticket = try await replica(app, id)
            XCTAssertEqual(ticket?.title, "v2", "an old version is dropped")
            XCTAssertEqual(ticket?.version, 2)
            XCTAssertEqual(ticket?.priceCents, 3000)
        }
    }

    func testAnUpdateForATicketNotYetKnownWaitsAndACreationTwiceIsHarmless() async throws {
        try await withOrders { app, _ in
            let id = UUID().uuidString.lowercased()
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 1, title: "v1"), app), .retryLater)
            let created = TicketCreatedEvent(id: id, version: 0, title: "v0", price: Money(cents: 100), userId: "s")
            try await assertEqual(try await apply(TicketCreatedListener(), created, app), .done)
            try await assertEqual(try await apply(TicketCreatedListener(), created, app), .done)
            try await assertEqual(try await apply(TicketUpdatedListener(), updated(id, version: 1, title: "v1"), app), .done)
            try await assertEqual(try await replica(app, id)?.title, "v1")
        }
    }

    func testExpiryCancelsAnUnpaidOrderAndPublishesOrderCancelled() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            let id = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as! String
            try await assertEqual(try await apply(ExpirationCompleteListener(), ExpirationCompleteEvent(orderId: id), app), .done)
            let order = try await buyer.send(.GET, "/api/orders/\(id)").object
            XCTAssertEqual(order["status"] as? String, "cancelled")
            XCTAssertEqual(order["version"] as? Int, 1)
            // Expiring again publishes nothing more.
            _ = try await apply(ExpirationCompleteListener(), ExpirationCompleteEvent(orderId: id), app)
            try await eventually { bus.events(OrderCancelledEvent.self).count == 1 }
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(bus.events(OrderCancelledEvent.self).map(\.version), [1])
        }
    }

    func testAPaidOrderIsCompleteAndNeverExpires() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            let id = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as! String
            let payment = PaymentCreatedEvent(id: "pay-1", orderId: id, stripeId: "ch_1")
            try await assertEqual(try await apply(PaymentCreatedListener(), payment, app), .done)
            try await assertEqual(try await apply(PaymentCreatedListener(), payment, app), .done)
            try await assertEqual(try await apply(ExpirationCompleteListener(), ExpirationCompleteEvent(orderId: id), app), .done)
            let order = try await buyer.send(.GET, "/api/orders/\(id)").object
            XCTAssertEqual(order["status"] as? String, "complete")
            XCTAssertEqual(order["version"] as? Int, 1)
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(bus.events(OrderCancelledEvent.self).count, 0)
        }
    }

    func testEventsForUnknownOrdersFailSoTheyAreRetriedAndThenParked() async throws {
        try await withOrders { app, _ in
            for orderId in [UUID().uuidString, "garbage"] {
                do {
                    _ = try await apply(ExpirationCompleteListener(), ExpirationCompleteEvent(orderId: orderId), app)
                    XCTFail("unknown order \(orderId) must not be acknowledged as done")
                } catch is UnknownOrder {}
            }
        }
    }

    /// An order that reached this service before the news of its ticket's withdrawal is cancelled when it arrives;
    /// after it, the ticket cannot be ordered.
    func testAWithdrawalCancelsTheOrdersThatBeatItAndRefusesNewOnes() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            let early = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as! String
            var withdrawn = updated(ticketId, version: 1, title: "Concert")
            withdrawn.withdrawn = true
            try await assertEqual(try await apply(TicketUpdatedListener(), withdrawn, app), .done)
            let order = try await buyer.send(.GET, "/api/orders/\(early)").object
            XCTAssertEqual(order["status"] as? String, "cancelled")
            try await eventually { bus.events(OrderCancelledEvent.self).map(\.id) == [early] }
            let refused = try await TestClient.signedIn(app).send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(refused.status, .notFound)
        }
    }

    /// The buyer of a resale is told the order is complete only once the tickets service handed the ticket over,
    /// which voids the previous holder's pass in the same transaction. Paid meanwhile, it no longer expires.
    func testAResalesOrderCompletesOnlyOnceTheTicketIsHandedOver() async throws {
        try await withOrders { app, bus in
            let (ticketId, buyer, id) = try await orderedResale(app)
            let payment = PaymentCreatedEvent(id: "pay-1", orderId: id, stripeId: "ch_1")
            var reserved = updated(ticketId, version: 1, title: "Resold")
            reserved.orderId = id
            try await assertEqual(try await apply(TicketUpdatedListener(), reserved, app), .done)
            try await assertEqual(try await apply(PaymentCreatedListener(), payment, app), .done)
            try await assertEqual(try await buyer.send(.GET, "/api/orders/\(id)").object["status"] as? String, "created")
            try await assertEqual(try await apply(ExpirationCompleteListener(), ExpirationCompleteEvent(orderId: id), app), .done)
            let cancelling = try await buyer.send(.DELETE, "/api/orders/\(id)")
            XCTAssertEqual(cancelling.errorEnvelope?.errors, [ErrorItem(message: "Cannot cancel a completed order")])
            try await assertEqual(try await buyer.send(.GET, "/api/orders/\(id)").object["status"] as? String, "created", "paid: not expired")
            var handedOver = reserved
            handedOver.version = 2
            handedOver.holderId = buyer.userId
            try await assertEqual(try await apply(TicketUpdatedListener(), handedOver, app), .done)
            try await assertEqual(try await buyer.send(.GET, "/api/orders/\(id)").object["status"] as? String, "complete")
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(bus.events(OrderCancelledEvent.self).count, 0)
        }
    }

    /// A resale withdrawn at the door while its buyer paid will never be handed over: the order is cancelled, so
    /// the payments service refunds it.
    func testAWithdrawalCancelsAPaidResaleOrderWaitingForItsHandOver() async throws {
        try await withOrders { app, bus in
            let (ticketId, buyer, id) = try await orderedResale(app)
            try await assertEqual(try await apply(PaymentCreatedListener(), PaymentCreatedEvent(id: "pay-1", orderId: id, stripeId: "ch_1"), app), .done)
            var withdrawn = updated(ticketId, version: 1, title: "Resold")
            withdrawn.orderId = id
            withdrawn.withdrawn = true
            try await assertEqual(try await apply(TicketUpdatedListener(), withdrawn, app), .done)
            try await assertEqual(try await buyer.send(.GET, "/api/orders/\(id)").object["status"] as? String, "cancelled")
            try await eventually { bus.events(OrderCancelledEvent.self).map(\.id) == [id] }
        }
    }

    /// A withdrawal that lands between the order's check of the replica and its write is still refused, in the
    /// write's own transaction.
    func testAReservationRechecksTheWithdrawalWhenItWrites() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            var withdrawn = updated(ticketId, version: 1, title: "Concert")
            withdrawn.withdrawn = true
            try await assertEqual(try await apply(TicketUpdatedListener(), withdrawn, app), .done)
            let reservations = Reservations(unitOfWork: app.unitOfWork, limits: TestSupport.generousLimits)
            let order = Order(userId: buyer.userId, ticketId: ticketId, price: Money(cents: 2000), expiresAt: Date().addingTimeInterval(900))
            try await assertEqual(try await reservations.reserve(order, on: app.db), .withdrawn)
            try await assertEqual(try await Order.find(order.id, on: app.db) == nil, true)
        }
    }
}
