import Foundation
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

func withTickets(tuning: EventTuning = EventTuning(), _ body: (Application, InMemoryBus) async throws -> Void) async throws {
    try await withServiceApp("tickets", configure: { app, config, bus in
        try await app.wireForTesting(.tickets, config, bus: bus, tuning: tuning)
    }, body)
}

@discardableResult
func createTicket(_ client: TestClient, title: String = "Concert", price: String = "20") async throws -> [String: Any] {
    let response = try await client.send(.POST, "/api/tickets", json: #"{"title": "\#(title)", "price": \#(price)}"#)
    XCTAssertEqual(response.status, .created, response.body.string)
    return response.object
}

final class TicketRouteTests: XCTestCase {
    func testCreatingATicketReturnsVersionZeroAndPublishesTicketCreated() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let ticket = try await createTicket(seller, title: "  Opera  ", price: "12.5")
            XCTAssertEqual(ticket["title"] as? String, "Opera")
            XCTAssertEqual(ticket["price"] as? Double, 12.5)
            XCTAssertEqual(ticket["userId"] as? String, seller.userId)
            XCTAssertEqual(ticket["version"] as? Int, 0)
            XCTAssertNil(ticket["orderId"], "orderId only while reserved")
            XCTAssertEqual(Set(ticket.keys), ["id", "title", "price", "userId", "version"])
            try await eventually { bus.events(TicketCreatedEvent.self).count == 1 }
            XCTAssertEqual(bus.events(TicketCreatedEvent.self), [
                TicketCreatedEvent(id: ticket["id"] as! String, version: 0, title: "Opera", price: Money(cents: 1250), userId: seller.userId),
            ])
        }
    }

    func testCreatingNeedsASignedInUser() async throws {
        try await withTickets { app, _ in
            let response = try await TestClient.signedOut(app).send(.POST, "/api/tickets", json: #"{"title": "x", "price": 1}"#)
            XCTAssertEqual(response.status, .unauthorized)
            XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: "Not authorized")])
        }
    }

    func testInvalidTitlesAndPricesAreFieldErrors() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let cases: [(String, [ErrorItem])] = [
                (#"{"price": 10}"#, [ErrorItem(message: "Title is required", field: "title")]),
                (#"{"title": "   ", "price": 10}"#, [ErrorItem(message: "Title is required", field: "title")]),
                (#"{"title": "\#(String(repeating: "t", count: 201))", "price": 10}"#,
                 [ErrorItem(message: "Title must be at most 200 characters", field: "title")]),
                (#"{"title": "x"}"#, [ErrorItem(message: "Price must be greater than 0", field: "price")]),
                (#"{"title": "x", "price": 0}"#, [ErrorItem(message: "Price must be greater than 0", field: "price")]),
                (#"{"title": "x", "price": -10}"#, [ErrorItem(message: "Price must be greater than 0", field: "price")]),
                (#"{"title": "x", "price": "ten"}"#, [ErrorItem(message: "Price must be greater than 0", field: "price")]),
                (#"{"title": "x", "price": 9.999}"#, [ErrorItem(message: "Price must have at most 2 decimals", field: "price")]),
                (#"{"title": "x", "price": 1000000.01}"#, [ErrorItem(message: "Price must be at most 1000000", field: "price")]),
                (#"{}"#, [ErrorItem(message: "Title is required", field: "title"), ErrorItem(message: "Price must be greater than 0", field: "price")]),
            ]
            for (body, expected) in cases {
                let response = try await seller.send(.POST, "/api/tickets", json: body)
                XCTAssertEqual(response.status, .badRequest, body)
                XCTAssertEqual(response.errorEnvelope?.errors, expected, body)
            }
            let maximal = try await createTicket(seller, price: "1000000")
            XCTAssertEqual(maximal["price"] as? Int, 1_000_000)
            let fromForm = try await createTicket(seller, price: #""9.99""#)
            XCTAssertEqual(fromForm["price"] as? Double, 9.99)
            try await Task.sleep(for: .milliseconds(50))
            XCTAssertEqual(bus.events(TicketCreatedEvent.self).count, 2, "refused input publishes nothing")
        }
    }

    /// A price is read whole: the API used to keep the number at the front of `"12abc"` or `"1,000"`.
    func testPricesAreReadWholeAndTitlesAreCleanOrRefused() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            for price in [#""12abc""#, #""1,000""#, #""9.99.99""#, #"" 12""#, #""1e3""#, #""$5""#, #"true"#, #"[1]"#] {
                let response = try await seller.send(.POST, "/api/tickets", json: #"{"title": "x", "price": \#(price)}"#)
                XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: "Price must be greater than 0", field: "price")], price)
            }
            let tooPrecise = try await seller.send(.POST, "/api/tickets", json: #"{"title": "x", "price": "12.345"}"#)
            XCTAssertEqual(tooPrecise.errorEnvelope?.errors, [ErrorItem(message: "Price must have at most 2 decimals", field: "price")])
            for title in [#"a\u0000b"#, #"bell\u0007"#, #"rtl\u202Egnp.exe"#, #"\u2066iso"#, #"del\u007F"#] {
                let response = try await seller.send(.POST, "/api/tickets", json: #"{"title": "\#(title)", "price": 5}"#)
                XCTAssertEqual(response.errorEnvelope?.errors, [
                    ErrorItem(message: "Title must not contain control or text-direction characters", field: "title"),
                ], title)
            }
            let buried = "a" + String(repeating: #"\u0301"#, count: 3_000)
            let heavy = try await seller.send(.POST, "/api/tickets", json: #"{"title": "\#(buried)", "price": 5}"#)
            XCTAssertEqual(heavy.errorEnvelope?.errors, [ErrorItem(message: "Title must be at most 200 characters", field: "title")])
            let composed = try await createTicket(seller, title: #"Cafe\u0301"#, price: "5")
            XCTAssertEqual(composed["title"] as? String, "Caf\u{E9}")
            let form = try await app.testable().sendRequest(
                .POST, "/api/tickets", headers: ["Content-Type": "application/x-www-form-urlencoded", "Cookie": seller.cookie!],
                body: ByteBuffer(string: "title=x&price=5")
            )
            XCTAssertEqual(form.status, .unsupportedMediaType)
            try await Task.sleep(for: .milliseconds(50))
            XCTAssertEqual(bus.events(TicketCreatedEvent.self).map(\.title), ["Caf\u{E9}"], "refused input publishes nothing")
        }
    }

    func testShowingATicketAndUnknownOrMalformedIds() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            let ticket = try await createTicket(seller)
            let anyone = TestClient.signedOut(app)
            let shown = try await anyone.send(.GET, "/api/tickets/\(ticket["id"] as! String)")
            XCTAssertEqual(shown.status, .ok)
            XCTAssertEqual(shown.object["title"] as? String, "Concert")
            for path in ["/api/tickets/\(UUID())", "/api/tickets/not-an-id"] {
                let missing = try await anyone.send(.GET, path)
                XCTAssertEqual(missing.status, .notFound, path)
                XCTAssertEqual(missing.errorEnvelope?.errors, [ErrorItem(message: "Not Found")])
            }
        }
    }

    func testListingShowsUnreservedTicketsOldestFirstInPages() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            var ids: [String] = []
            for index in 0..<5 { ids.append(try await createTicket(seller, title: "T\(index)")["id"] as! String) }
            try await app.sql.raw("UPDATE tickets SET order_id = 'some-order' WHERE id = \(bind: UUID(uuidString: ids[1])!)").run()
            let anyone = TestClient.signedOut(app)

            let all = try await anyone.send(.GET, "/api/tickets")
            XCTAssertEqual(all.status, .ok)
            XCTAssertEqual((all.json as? [[String: Any]])?.compactMap { $0["title"] as? String }, ["T0", "T2", "T3", "T4"])
            XCTAssertNil(all.headers.first(name: .link))

            let first = try await anyone.send(.GET, "/api/tickets?limit=2")
            XCTAssertEqual((first.json as? [[String: Any]])?.compactMap { $0["title"] as? String }, ["T0", "T2"])
            let next = try XCTUnwrap(first.headers.first(name: .link))
            XCTAssertEqual(next, #"</api/tickets?limit=2&after=\#(ids[2])>; rel="next""#)
            let second = try await anyone.send(.GET, "/api/tickets?limit=2&after=\(ids[2])")
            XCTAssertEqual((second.json as? [[String: Any]])?.compactMap { $0["title"] as? String }, ["T3", "T4"])

            for bad in ["limit=0", "limit=1001", "limit=x", "after=\(UUID())"] {
                let response = try await anyone.send(.GET, "/api/tickets?\(bad)")
                XCTAssertEqual(response.status, .badRequest, bad)
            }
        }
    }

    /// The listing writes its JSON by hand (JSONText); each entry must be what the ticket's own page encodes.
    func testListingEntriesAreTheTicketsOwnJSON() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            let titles = [#"Say \"hi\" \\ </script>"#, "Café ☕️ 🎟️ Ω", "Plain"]
            var ids: [String] = []
            for (index, title) in titles.enumerated() {
                ids.append(try await createTicket(seller, title: title, price: ["12.5", "0.07", "1000000"][index])["id"] as! String)
            }
            try await app.sql.raw("""
                UPDATE tickets SET resale_of = \(bind: UUID()), face_value_cents = 1999 WHERE id = \(bind: UUID(uuidString: ids[2])!)
                """).run()
            let anyone = TestClient.signedOut(app)
            let listing = try await anyone.send(.GET, "/api/tickets")
            let listed = try XCTUnwrap(listing.json as? [[String: Any]])
            XCTAssertEqual(listed.compactMap { $0["title"] as? String }, [#"Say "hi" \ </script>"#, "Café ☕️ 🎟️ Ω", "Plain"])
            XCTAssertEqual(listed.compactMap { $0["price"] as? Double }, [12.5, 0.07, 1_000_000])
            XCTAssertEqual(listed[2]["faceValue"] as? Double, 19.99)
            for (entry, id) in zip(listed, ids) {
                let shown = try await anyone.send(.GET, "/api/tickets/\(id)").object
                XCTAssertEqual(entry as NSDictionary, shown as NSDictionary, id)
            }
        }
    }

    func testUpdatingBumpsTheVersionAndPublishesTicketUpdated() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            let response = try await seller.send(.PUT, "/api/tickets/\(id)", json: #"{"title": "New title", "price": 99.99}"#)
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.object["version"] as? Int, 1)
            XCTAssertEqual(response.object["title"] as? String, "New title")
            XCTAssertEqual(response.object["price"] as? Double, 99.99)
            try await eventually { bus.events(TicketUpdatedEvent.self).count == 1 }
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self), [
                TicketUpdatedEvent(id: id, version: 1, title: "New title", price: Money(cents: 9999), userId: seller.userId, orderId: nil),
            ])
        }
    }

    func testUpdateChecksComeInTheContractsOrder() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            let other = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            let valid = #"{"title": "t", "price": 5}"#

            let signedOut = try await TestClient.signedOut(app).send(.PUT, "/api/tickets/\(id)", json: #"{"title": ""}"#)
            XCTAssertEqual(signedOut.status, .unauthorized, "signed out comes before validation")
            let invalid = try await other.send(.PUT, "/api/tickets/\(UUID())", json: #"{"title": "", "price": 5}"#)
            XCTAssertEqual(invalid.status, .badRequest, "validation comes before existence")
            let missing = try await other.send(.PUT, "/api/tickets/\(UUID())", json: valid)
            XCTAssertEqual(missing.status, .notFound)
            let notOwner = try await other.send(.PUT, "/api/tickets/\(id)", json: valid)
            XCTAssertEqual(notOwner.status, .unauthorized)

            try await app.sql.raw("UPDATE tickets SET order_id = 'holding-order' WHERE id = \(bind: UUID(uuidString: id)!)").run()
            let reservedByOther = try await other.send(.PUT, "/api/tickets/\(id)", json: valid)
            XCTAssertEqual(reservedByOther.status, .unauthorized, "ownership is checked before the reservation")
            let reserved = try await seller.send(.PUT, "/api/tickets/\(id)", json: valid)
            XCTAssertEqual(reserved.status, .badRequest)
            XCTAssertEqual(reserved.errorEnvelope?.errors, [ErrorItem(message: "Cannot edit a reserved ticket")])
        }
    }

    func testSimultaneousEditsEachApplyOnTopOfTheLastNeverOverwritingOne() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let id = try await createTicket(seller)["id"] as! String
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for index in 1...20 {
                    group.addTask {
                        try await seller.send(.PUT, "/api/tickets/\(id)", json: #"{"title": "edit \#(index)", "price": \#(index)}"#).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(statuses, Array(repeating: .ok, count: 20))
            let final = try await seller.send(.GET, "/api/tickets/\(id)")
            XCTAssertEqual(final.object["version"] as? Int, 20)
            try await eventually { bus.events(TicketUpdatedEvent.self).count == 20 }
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).map(\.version).sorted(), Array(1...20), "one event per version")
        }
    }
}
