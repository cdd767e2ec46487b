import Foundation
import JetStream
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// Resale, hand-over and withdrawal (CONTRACT.md section 7).
final class ResaleTests: XCTestCase {
    private func resell(_ holder: TestClient, _ id: String, price: String) async throws -> XCTHTTPResponse {
        try await holder.send(.POST, "/api/tickets/\(id)/resale", json: #"{"price": \#(price)}"#)
    }

    private func code(_ holder: TestClient, _ id: String) async throws -> String {
        let pass = try await holder.send(.GET, "/api/tickets/\(id)/pass")
        return try XCTUnwrap(pass.object["code"] as? String)
    }

    private func verdict(_ app: Application, _ code: String) async throws -> [String: Any] {
        try await TestClient.signedOut(app).send(.POST, "/api/tickets/verify", json: #"{"code": "\#(code)"}"#).object
    }

    private func heldIDs(_ client: TestClient) async throws -> [String] {
        ((try await client.send(.GET, "/api/tickets/held").json as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    func testAHolderResellsAtTheCapAndNotOneCentAbove() async throws {
        try await withTickets { app, bus in
            let holder = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder, title: "Opera")

            let above = try await resell(holder, id, price: "20.01")
            XCTAssertEqual(above.status, .badRequest)
            XCTAssertEqual(above.errorEnvelope?.errors, [ErrorItem(message: "Price exceeds the resale cap", field: "price")])
            for (price, message) in [("0", "Price must be greater than 0"), ("\"12.345\"", "Price must have at most 2 decimals")] {
                try await assertEqual(try await resell(holder, id, price: price).errorEnvelope?.errors, [ErrorItem(message: message, field: "price")])
            }
            for other in [try await TestClient.signedIn(app), TestClient.signedOut(app)] {
                try await assertEqual(try await resell(other, id, price: "10").status, .unauthorized, "only the holder resells")
            }
            try await assertEqual(try await resell(holder, UUID().uuidString.lowercased(), price: "10").status, .notFound)

            let listed = try await resell(holder, id, price: "20")
            XCTAssertEqual(listed.status, .created, listed.body.string)
            let listing = listed.object
            let resaleId = try XCTUnwrap(listing["id"] as? String)
            XCTAssertEqual(listing["resaleOf"] as? String, id)
            XCTAssertEqual(listing["faceValue"] as? Double, 20)
            XCTAssertEqual(listing["price"] as? Double, 20)
            XCTAssertEqual(listing["title"] as? String, "Opera")
            XCTAssertEqual(listing["userId"] as? String, holder.userId, "the holder sells the listing")
            XCTAssertEqual(listing["version"] as? Int, 0)
            XCTAssertNil(listing["holderId"])
            try await eventually { bus.events(TicketCreatedEvent.self).contains { $0.id == resaleId && $0.resaleOf == id } }

            let again = try await resell(holder, id, price: "15")
            XCTAssertEqual(again.errorEnvelope?.errors, [ErrorItem(message: "Ticket is already listed for resale")])
            let forSale = try await TestClient.signedOut(app).send(.GET, "/api/tickets").json as? [[String: Any]]
            XCTAssertEqual(forSale?.compactMap { $0["id"] as? String }, [resaleId], "listed for sale; the held ticket is not")
            let held = try await holder.send(.GET, "/api/tickets/held").json as? [[String: Any]]
            XCTAssertEqual(held?.first?["resaleId"] as? String, resaleId, "the held ticket names its listing")
            try await assertEqual(try await verdict(app, try await code(holder, id))["valid"] as? Bool, true, "listed, the pass is still good")
        }
    }

    func testTheCapIsAShareOfWhatTheHolderPaid() async throws {
        try await withServiceApp("tickets", configure: { app, config, bus in
            var config = config
            config.resalePriceCapPercent = 150
            try await app.wireForTesting(.tickets, config, bus: bus)
        }) { app, bus in
            let holder = try await TestClient.signedIn(app)
            let seller = try await TestClient.signedIn(app)
            // Listed at 20 now, but the order was made at 12: the cap follows what was paid.
            let id = try await createTicket(seller, price: "20")["id"] as! String
            try await buy(app, bus, id, buyer: holder, cents: 1200)
            try await assertEqual(try await resell(holder, id, price: "18.01").status, .badRequest)
            let listed = try await resell(holder, id, price: "18")
            XCTAssertEqual(listed.status, .created, listed.body.string)
            XCTAssertEqual(listed.object["faceValue"] as? Double, 12)
        }
    }

    func testTenSimultaneousResalesOfOneTicketListOnce() async throws {
        try await withTickets { app, bus in
            let holder = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder)
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for _ in 0..<10 { group.addTask { try await holder.send(.POST, "/api/tickets/\(id)/resale", json: #"{"price": 10}"#).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0 == .created }.count, 1, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == .badRequest }.count, 9, "\(statuses)")
            let listings = try await TestClient.signedOut(app).send(.GET, "/api/tickets").json as? [[String: Any]]
            XCTAssertEqual(listings?.filter { $0["resaleOf"] as? String == id }.count, 1)
        }
    }

    /// Another user buys the resale: they hold the listing with a new pass, and the old pass is void.
    func testPayingForAResaleHandsTheTicketOverAndVoidsTheOldPass() async throws {
        try await withTickets { app, bus in
            let venue = try await TestClient.signedIn(app)
            let first = try await TestClient.signedIn(app)
            let second = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: first, seller: venue)
            let oldCode = try await code(first, id)
            let resaleId = try await resell(first, id, price: "20").object["id"] as! String

            // Reserved only: the sale may still expire, so the old pass stays good.
            let orderId = try await reserve(app, bus, resaleId, buyer: second)
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(resaleId)").object["orderId"] != nil }
            try await assertEqual(try await verdict(app, oldCode)["valid"] as? Bool, true)

            try await pay(app, bus, orderId, for: resaleId, buyer: second)
            let old = try await verdict(app, oldCode)
            XCTAssertEqual(old["valid"] as? Bool, false)
            XCTAssertEqual(old["reason"] as? String, "resold")
            try await assertEqual(try await first.send(.GET, "/api/tickets/\(id)/pass").status, .unauthorized)
            try await assertEqual(try await heldIDs(first), [])
            try await assertEqual(try await heldIDs(second), [resaleId])
            try await assertEqual(try await resell(first, id, price: "10").status, .unauthorized, "resold, it is no longer theirs")

            let pass = try await second.send(.GET, "/api/tickets/\(resaleId)/pass").object
            XCTAssertEqual(pass["serial"] as? Int, 2, "the chain's serial grows with the hand-over")
            let newCode = try XCTUnwrap(pass["code"] as? String)
            let current = try await verdict(app, newCode)
            XCTAssertEqual(current["valid"] as? Bool, true)
            XCTAssertEqual(current["holderId"] as? String, second.userId)
            try await eventually { bus.events(TicketUpdatedEvent.self).contains { $0.id == id && $0.resold == true } }

            // The door is the venue's, for the resale as for the first sale.
            try await assertEqual(try await first.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(newCode)"}"#).status, .unauthorized)
            let voided = try await venue.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(oldCode)"}"#)
            XCTAssertEqual(voided.errorEnvelope?.errors, [ErrorItem(message: "Pass is no longer valid")])
            try await assertEqual(try await venue.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(newCode)"}"#).status, .created)
        }
    }

    /// A resale's payment that lost the race with its order's expiry is refunded: the first holder keeps the ticket.
    func testACancelledResaleAfterTheHandOverGivesTheTicketBack() async throws {
        try await withTickets { app, bus in
            let first = try await TestClient.signedIn(app)
            let second = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: first)
            let oldCode = try await code(first, id)
            let resaleId = try await resell(first, id, price: "20").object["id"] as! String
            let orderId = try await buy(app, bus, resaleId, buyer: second)
            try await assertEqual(try await verdict(app, oldCode)["reason"] as? String, "resold")

            let cancelled = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: resaleId))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCancelled.rawValue, id: UUID().uuidString, data: try cancelled.encoded())])
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(resaleId)").object["orderId"] == nil }
            try await assertEqual(try await verdict(app, oldCode)["valid"] as? Bool, true)
            try await assertEqual(try await heldIDs(first), [id])
            try await assertEqual(try await heldIDs(second), [])
        }
    }

    /// The door wins over a reserved resale, or anyone could keep the holder out by reserving it again and again: the
    /// listing is withdrawn (orders cancels its order and the payment is refunded) and its payment hands nothing over.
    func testCheckingInWithdrawsAReservedResaleAndItsPaymentHandsNothingOver() async throws {
        try await withTickets { app, bus in
            let venue = try await TestClient.signedIn(app)
            let holder = try await TestClient.signedIn(app)
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder, seller: venue)
            let resaleId = try await resell(holder, id, price: "20").object["id"] as! String
            let orderId = try await reserve(app, bus, resaleId, buyer: buyer)
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(resaleId)").object["orderId"] != nil }
            let admitted = try await venue.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(try await code(holder, id))"}"#)
            XCTAssertEqual(admitted.status, .created)
            try await eventually { bus.events(TicketUpdatedEvent.self).contains { $0.id == resaleId && $0.withdrawn == true && $0.orderId == orderId } }

            let payment = PaymentCreatedEvent(id: UUID().uuidString.lowercased(), orderId: orderId, stripeId: "pi_test")
            try await assertEqual(try await apply(PaymentCreatedListener(), payment, app), .done)
            let listing = try await Ticket.find(UUID(uuidString: resaleId), on: app.db)
            XCTAssertNil(listing?.holderId, "a withdrawn resale is not handed over")
            try await assertEqual(try await heldIDs(buyer), [])
            try await assertEqual(try await verdict(app, try await code(holder, id))["reason"] as? String, "checked-in")
        }
    }

    func testAResaleKeepsItsListingUnlessWithdrawnAndListedAgain() async throws {
        try await withTickets { app, bus in
            let holder = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder)
            let resaleId = try await resell(holder, id, price: "20").object["id"] as! String
            let edit = try await holder.send(.PUT, "/api/tickets/\(resaleId)", json: #"{"title": "Concert", "price": 1000000}"#)
            XCTAssertEqual(edit.errorEnvelope?.errors, [ErrorItem(message: "Cannot edit a resale: withdraw it and list it again")])
            try await assertEqual(try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(resaleId)").object["price"] as? Double, 20)
        }
    }

    func testCheckingInWithdrawsAnUnreservedResaleAndEndsReselling() async throws {
        try await withTickets { app, bus in
            let venue = try await TestClient.signedIn(app)
            let holder = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder, seller: venue)
            let resaleId = try await resell(holder, id, price: "20").object["id"] as! String
            let admitted = try await venue.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(try await code(holder, id))"}"#)
            XCTAssertEqual(admitted.status, .created)
            try await assertEqual(try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(resaleId)").status, .notFound)
            try await eventually { bus.events(TicketUpdatedEvent.self).contains { $0.id == resaleId && $0.withdrawn == true } }
            try await assertEqual(try await resell(holder, id, price: "20").errorEnvelope?.errors, [ErrorItem(message: "Cannot resell a checked-in ticket")])
        }
    }

    func testTheOwnerWithdrawsAnUnreservedListing() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            try await assertEqual(try await TestClient.signedIn(app).send(.DELETE, "/api/tickets/\(id)").status, .unauthorized)
            try await assertEqual(try await TestClient.signedOut(app).send(.DELETE, "/api/tickets/\(id)").status, .unauthorized)
            try await assertEqual(try await seller.send(.DELETE, "/api/tickets/\(id)").status, .noContent)
            try await assertEqual(try await seller.send(.DELETE, "/api/tickets/\(id)").status, .noContent, "withdrawing again changes nothing")
            try await assertEqual(try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").status, .notFound)
            try await assertEqual(try await seller.send(.PUT, "/api/tickets/\(id)", json: #"{"title": "Back", "price": 5}"#).status, .notFound)
            let forSale = try await TestClient.signedOut(app).send(.GET, "/api/tickets").json as? [[String: Any]]
            XCTAssertEqual(forSale?.count, 0)
            try await eventually { bus.events(TicketUpdatedEvent.self).filter { $0.id == id }.map(\.withdrawn) == [true] }
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).first { $0.id == id }?.version, 1)

            // An order that reached the orders service before the news does not reserve it (orders cancels it).
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await reserve(app, bus, id, buyer: buyer)
            try await eventually { try await OrderVersions.version(of: orderId, on: app.db) == 0 }
            let row = try await Ticket.find(UUID(uuidString: id), on: app.db)
            XCTAssertNil(row?.orderId)
            XCTAssertEqual(row?.version, 1)

            let reserved = try await createTicket(seller)["id"] as! String
            _ = try await reserve(app, bus, reserved, buyer: buyer)
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(reserved)").object["orderId"] != nil }
            try await assertEqual(try await seller.send(.DELETE, "/api/tickets/\(reserved)").errorEnvelope?.errors, [ErrorItem(message: "Cannot withdraw a reserved ticket")])
        }
    }

    func testAWithdrawnResaleCanBeListedAgain() async throws {
        try await withTickets { app, bus in
            let holder = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: holder)
            let first = try await resell(holder, id, price: "20").object["id"] as! String
            try await assertEqual(try await holder.send(.DELETE, "/api/tickets/\(first)").status, .noContent)
            let second = try await resell(holder, id, price: "15")
            XCTAssertEqual(second.status, .created)
            XCTAssertNotEqual(second.object["id"] as? String, first)
        }
    }
}
