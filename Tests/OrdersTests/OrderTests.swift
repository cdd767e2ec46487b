import Foundation
import JetStream
@testable import Orders
import TicketingCore
import TicketingTesting
import XCTVapor

final class OrderRouteTests: XCTestCase {
    func testReservingATicketCreatesAnOrderThatExpiresAndPublishesOrderCreated() async throws {
        try await withOrders(window: 60) { app, bus in
            let ticketId = try await replicate(app, bus, title: "Opera", cents: 1250)
            let buyer = try await TestClient.signedIn(app)
            let before = Date()
            let response = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(response.status, .created, response.body.string)
            let order = response.object
            XCTAssertEqual(order["status"] as? String, "created")
            XCTAssertEqual(order["userId"] as? String, buyer.userId)
            XCTAssertEqual(order["version"] as? Int, 0)
            let ticket = try XCTUnwrap(order["ticket"] as? [String: Any])
            XCTAssertEqual(ticket["id"] as? String, ticketId)
            XCTAssertEqual(ticket["title"] as? String, "Opera")
            XCTAssertEqual(ticket["price"] as? Double, 12.5)
            XCTAssertEqual(ticket["version"] as? Int, 0)
            let expiresAt = try XCTUnwrap(ISOTimestamp.date(order["expiresAt"] as? String ?? ""))
            XCTAssertEqual(expiresAt.timeIntervalSince(before), 60, accuracy: 2)
            XCTAssertTrue((order["expiresAt"] as? String)?.hasSuffix("Z") ?? false)

            try await eventually { bus.events(OrderCreatedEvent.self).count == 1 }
            XCTAssertEqual(bus.events(OrderCreatedEvent.self), [OrderCreatedEvent(
                id: order["id"] as! String, version: 0, status: .created, userId: buyer.userId,
                expiresAt: order["expiresAt"] as! String, ticket: .init(id: ticketId, price: Money(cents: 1250))
            )])
        }
    }

    func testReservingNeedsASignInATicketIdAndAKnownTicket() async throws {
        try await withOrders { app, _ in
            let signedOut = try await TestClient.signedOut(app).send(.POST, "/api/orders", json: #"{"ticketId": "x"}"#)
            XCTAssertEqual(signedOut.status, .unauthorized)
            let buyer = try await TestClient.signedIn(app)
            for body in [#"{}"#, #"{"ticketId": ""}"#, #"{"ticketId": "   "}"#] {
                let missing = try await buyer.send(.POST, "/api/orders", json: body)
                XCTAssertEqual(missing.status, .badRequest, body)
                XCTAssertEqual(missing.errorEnvelope?.errors, [ErrorItem(message: "TicketId must be provided", field: "ticketId")])
            }
            for unknown in [UUID().uuidString, "not-a-ticket"] {
                let response = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(unknown)"}"#)
                XCTAssertEqual(response.status, .notFound, unknown)
            }
        }
    }

    func testAReservedTicketCannotBeReservedAgainUntilTheOrderIsCancelled() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let first = try await TestClient.signedIn(app)
            let second = try await TestClient.signedIn(app)
            let order = try await first.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object
            let refused = try await second.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertEqual(refused.errorEnvelope?.errors, [ErrorItem(message: "Ticket is already reserved")])

            let cancel = try await first.send(.DELETE, "/api/orders/\(order["id"] as! String)")
            XCTAssertEqual(cancel.status, .noContent)
            XCTAssertEqual(cancel.body.readableBytes, 0)
            let again = try await second.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(again.status, .created)
        }
    }

    func testOfFiftySimultaneousReservationsOfOneTicketExactlyOneSucceeds() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            var buyers: [TestClient] = []
            for _ in 0..<50 { buyers.append(try await TestClient.signedIn(app)) }
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for buyer in buyers {
                    group.addTask { try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).status }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0 == .created }.count, 1, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == .badRequest }.count, 49, "\(statuses)")
            let active = try await Order.query(on: app.db).filter(\.$ticketId == ticketId).filter(\.$status != .cancelled).count()
            XCTAssertEqual(active, 1)
            try await eventually { bus.events(OrderCreatedEvent.self).count == 1 }
        }
    }

    func testReservationsWrittenTogetherStillGiveEachTicketToExactlyOneOrder() async throws {
        try await withOrders { app, bus in
            var tickets: [String] = []
            for _ in 0..<30 { tickets.append(try await replicate(app, bus)) }
            let buyer = try await TestClient.signedIn(app)
            // Three requests per ticket, interleaved, all at once: batches mix winners and losers, and two
            // requests for one ticket can be in the same multi-row insert.
            let attempts = (0..<3).flatMap { _ in tickets }
            let results = try await withThrowingTaskGroup(of: (String, HTTPStatus).self) { group in
                for ticket in attempts {
                    group.addTask { (ticket, try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticket)"}"#).status) }
                }
                return try await group.reduce(into: [(String, HTTPStatus)]()) { $0.append($1) }
            }
            for ticket in tickets {
                let statuses = results.filter { $0.0 == ticket }.map(\.1)
                XCTAssertEqual(statuses.filter { $0 == .created }.count, 1, "\(ticket): \(statuses)")
                XCTAssertEqual(statuses.filter { $0 == .badRequest }.count, 2, "\(ticket): \(statuses)")
            }
            let orders = try await Order.query(on: app.db).all()
            XCTAssertEqual(orders.count, 30)
            XCTAssertEqual(Set(orders.map(\.ticketId)), Set(tickets))
            try await eventually { bus.events(OrderCreatedEvent.self).count == 30 }
            XCTAssertEqual(Set(bus.events(OrderCreatedEvent.self).map(\.id)), Set(orders.map(\.idString)), "one event per written order")
        }
    }

    func testListingAndShowingAreLimitedToTheOwner() async throws {
        try await withOrders { app, bus in
            let first = try await replicate(app, bus, title: "First")
            let second = try await replicate(app, bus, title: "Second")
            let third = try await replicate(app, bus, title: "Other's")
            let buyer = try await TestClient.signedIn(app)
            let other = try await TestClient.signedIn(app)
            let order = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(first)"}"#).object
            _ = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(second)"}"#)
            _ = try await other.send(.POST, "/api/orders", json: #"{"ticketId": "\#(third)"}"#)

            let list = try await buyer.send(.GET, "/api/orders")
            XCTAssertEqual(list.status, .ok)
            let titles = (list.json as? [[String: Any]])?.compactMap { ($0["ticket"] as? [String: Any])?["title"] as? String }
            XCTAssertEqual(titles, ["First", "Second"])

            let id = order["id"] as! String
            let shown = try await buyer.send(.GET, "/api/orders/\(id)")
            XCTAssertEqual(shown.status, .ok)
            XCTAssertEqual(shown.object["id"] as? String, id)
            let stranger = try await other.send(.GET, "/api/orders/\(id)")
            XCTAssertEqual(stranger.status, .unauthorized)
            XCTAssertEqual(stranger.errorEnvelope?.errors, [ErrorItem(message: "Not authorized")])
            let missing = try await buyer.send(.GET, "/api/orders/\(UUID())")
            XCTAssertEqual(missing.status, .notFound)
            let malformed = try await buyer.send(.GET, "/api/orders/nope")
            XCTAssertEqual(malformed.status, .notFound)
            let signedOut = try await TestClient.signedOut(app).send(.GET, "/api/orders")
            XCTAssertEqual(signedOut.status, .unauthorized)
        }
    }

    func testCancellingPublishesOnceAndNeverUndoesAPayment() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            let order = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object
            let id = order["id"] as! String

            let stranger = try await TestClient.signedIn(app).send(.DELETE, "/api/orders/\(id)")
            XCTAssertEqual(stranger.status, .unauthorized)
            let missing = try await buyer.send(.DELETE, "/api/orders/\(UUID())")
            XCTAssertEqual(missing.status, .notFound)

            let first = try await buyer.send(.DELETE, "/api/orders/\(id)")
            let second = try await buyer.send(.DELETE, "/api/orders/\(id)")
            XCTAssertEqual([first.status, second.status], [.noContent, .noContent])
            let shown = try await buyer.send(.GET, "/api/orders/\(id)").object
            XCTAssertEqual(shown["status"] as? String, "cancelled")
            XCTAssertEqual(shown["version"] as? Int, 1)
            try await eventually { bus.events(OrderCancelledEvent.self).count == 1 }
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(bus.events(OrderCancelledEvent.self), [OrderCancelledEvent(id: id, version: 1, ticket: .init(id: ticketId))])

            // A paid order is refused.
            let paidTicket = try await replicate(app, bus)
            let paid = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(paidTicket)"}"#).object["id"] as! String
            try await app.sql.raw("UPDATE orders SET status = 'complete' WHERE id = \(bind: UUID(uuidString: paid)!)").run()
            let refused = try await buyer.send(.DELETE, "/api/orders/\(paid)")
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertEqual(refused.errorEnvelope?.errors, [ErrorItem(message: "Cannot cancel a completed order")])
        }
    }
}

/// The marketplace's rules for buyers: the price is the one reserved at, no buying one's own listing, a cap on held
/// reservations and on how often one may order, and a list that pages.
final class OrderRuleTests: XCTestCase {
    func testAnOrderKeepsThePriceItWasMadeAtWhateverTheSellerEditsAfter() async throws {
        try await withOrders { app, bus in
            let ticketId = try await replicate(app, bus, cents: 10_000)
            let buyer = try await TestClient.signedIn(app)
            let order = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object
            // The seller's edit reached the tickets service before the reservation did, so it was accepted there
            // and announced; the orders service applies it to its replica.
            let edit = TicketUpdatedEvent(id: ticketId, version: 1, title: "Concert", price: Money(cents: 5_000), userId: "seller", orderId: nil)
            try await bus.publish([OutgoingMessage(subject: Subject.ticketUpdated.rawValue, id: UUID().uuidString, data: try edit.encoded())])
            try await eventually { try await ReplicatedTicket.find(ticketId, on: app.db)?.priceCents == 5_000 }

            let shown = try await buyer.send(.GET, "/api/orders/\(order["id"] as! String)").object
            XCTAssertEqual((shown["ticket"] as? [String: Any])?["price"] as? Double, 100)
            let listed = try await buyer.send(.GET, "/api/orders").json as? [[String: Any]]
            XCTAssertEqual((listed?.first?["ticket"] as? [String: Any])?["price"] as? Double, 100)
            try await eventually { bus.events(OrderCreatedEvent.self).count == 1 }
            XCTAssertEqual(bus.events(OrderCreatedEvent.self).first?.ticket.price, Money(cents: 10_000), "what payments will charge")
        }
    }

    func testASellerCannotOrderTheirOwnTicket() async throws {
        try await withOrders { app, bus in
            let seller = try await TestClient.signedIn(app)
            let ticketId = try await replicate(app, bus, seller: seller.userId)
            let response = try await seller.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(response.status, .badRequest)
            XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: "Cannot order your own ticket")])
            let buyer = try await TestClient.signedIn(app)
            let bought = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(bought.status, .created)
        }
    }

    func testABuyerHoldsAtMostTheConfiguredNumberOfReservationsEvenWhenRacing() async throws {
        var limits = TestSupport.generousLimits
        limits.activeOrdersPerUser = 3
        try await withOrders(limits: limits) { app, bus in
            var tickets: [String] = []
            for _ in 0..<12 { tickets.append(try await replicate(app, bus)) }
            let buyer = try await TestClient.signedIn(app)
            let raced = try await withThrowingTaskGroup(of: (String, XCTHTTPResponse).self) { group in
                for ticketId in tickets.prefix(10) {
                    group.addTask { (ticketId, try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)) }
                }
                return try await group.reduce(into: [(String, XCTHTTPResponse)]()) { $0.append($1) }
            }
            let won = raced.filter { $0.1.status == .created }
            XCTAssertEqual(won.count, 3, "\(raced.map(\.1.status))")
            for (_, refused) in raced where refused.status != .created {
                XCTAssertEqual(refused.status, .badRequest)
                XCTAssertEqual(refused.errorEnvelope?.errors, [
                    ErrorItem(message: "You can hold at most 3 reservations at once: pay for or cancel one first"),
                ])
            }
            let held = try await Order.query(on: app.db).filter(\.$userId == buyer.userId).count()
            XCTAssertEqual(held, 3)

            // A cancelled reservation makes room; another buyer was never limited by this one.
            let first = try XCTUnwrap(won.first?.1.object["id"] as? String)
            try await assertEqual(try await buyer.send(.DELETE, "/api/orders/\(first)").status, .noContent)
            try await assertEqual(try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(tickets[10])"}"#).status, .created)
            let other = try await TestClient.signedIn(app)
            try await assertEqual(try await other.send(.POST, "/api/orders", json: #"{"ticketId": "\#(tickets[11])"}"#).status, .created)
        }
    }

    func testOrderCreationIsRateLimitedPerUser() async throws {
        var limits = TestSupport.generousLimits
        limits.ordersPerUser = 3
        try await withOrders(limits: limits) { app, bus in
            let ticketId = try await replicate(app, bus)
            let buyer = try await TestClient.signedIn(app)
            for _ in 1...3 {
                let order = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
                XCTAssertEqual(order.status, .created)
                try await assertEqual(try await buyer.send(.DELETE, "/api/orders/\(order.object["id"] as! String)").status, .noContent)
            }
            let refused = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#)
            XCTAssertEqual(refused.status, .tooManyRequests)
            XCTAssertEqual(refused.errorEnvelope?.errors, [ErrorItem(message: "Too many orders, try again later")])
            let retryAfter = try XCTUnwrap(refused.headers.first(name: "Retry-After").flatMap(Int.init))
            XCTAssertTrue((1...600).contains(retryAfter), "\(retryAfter)")
            let other = try await TestClient.signedIn(app)
            try await assertEqual(try await other.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).status, .created)
        }
    }

    func testTheOrdersListPagesLikeTheTicketsList() async throws {
        try await withOrders { app, bus in
            let buyer = try await TestClient.signedIn(app)
            var ids: [String] = []
            for _ in 0..<3 {
                let ticketId = try await replicate(app, bus)
                ids.append(try await buyer.send(.POST, "/api/orders", json: #"{"ticketId": "\#(ticketId)"}"#).object["id"] as! String)
            }
            let first = try await buyer.send(.GET, "/api/orders?limit=2")
            XCTAssertEqual((first.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, Array(ids.prefix(2)))
            let next = try XCTUnwrap(first.headers.first(name: .link))
            XCTAssertEqual(next, #"</api/orders?limit=2&after=\#(ids[1])>; rel="next""#)
            let rest = try await buyer.send(.GET, "/api/orders?limit=2&after=\(ids[1])")
            XCTAssertEqual((rest.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, [ids[2]])
            XCTAssertNil(rest.headers.first(name: .link))
            for query in ["limit=0", "limit=abc", "limit=1001", "limit=+2", "after=nope", "after=\(UUID())"] {
                let response = try await buyer.send(.GET, "/api/orders?\(query)")
                XCTAssertEqual(response.status, .badRequest, query)
            }
            // Another buyer's order is no cursor.
            let other = try await TestClient.signedIn(app)
            try await assertEqual(try await other.send(.GET, "/api/orders?after=\(ids[0])").status, .badRequest)
        }
    }
}
