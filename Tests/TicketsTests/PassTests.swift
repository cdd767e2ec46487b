import Crypto
import Foundation
import JetStream
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// A ticket listed by a seller, ordered by `buyer` and paid, as the events arrive in production.
func heldTicket(
    _ app: Application, _ bus: InMemoryBus, buyer: TestClient, seller given: TestClient? = nil, title: String = "Concert",
    paymentFirst: Bool = false
) async throws -> String {
    let seller: TestClient
    if let given { seller = given } else { seller = try await TestClient.signedIn(app) }
    let id = try await createTicket(seller, title: title)["id"] as! String
    try await buy(app, bus, id, buyer: buyer, paymentFirst: paymentFirst)
    return id
}

/// Orders the ticket for `buyer` at `cents` and pays, as the orders and payments services announce it; returns once
/// the buyer holds it. Returns the order's id.
@discardableResult
func buy(
    _ app: Application, _ bus: InMemoryBus, _ id: String, buyer: TestClient, cents: Int64 = 2000, paymentFirst: Bool = false
) async throws -> String {
    let orderId = try await reserve(app, bus, id, buyer: buyer, cents: cents, publish: !paymentFirst)
    // A payment that arrives first waits for the order it pays for, retried with a backoff that grows.
    try await pay(app, bus, orderId, for: id, buyer: buyer, then: paymentFirst ? [try orderCreated(orderId, id, buyer: buyer, cents: cents)] : [])
    return orderId
}

/// Pays for the order (then publishes `then`), as the payments service announces it; returns once the buyer holds the ticket.
func pay(
    _ app: Application, _ bus: InMemoryBus, _ orderId: String, for id: String, buyer: TestClient, then: [OutgoingMessage] = []
) async throws {
    let payment = PaymentCreatedEvent(id: UUID().uuidString.lowercased(), orderId: orderId, stripeId: "pi_test")
    try await bus.publish([OutgoingMessage(subject: Subject.paymentCreated.rawValue, id: UUID().uuidString, data: try payment.encoded())] + then)
    try await eventually(timeout: then.isEmpty ? 5 : 20) {
        try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object["holderId"] as? String == buyer.userId
    }
}

/// An order for the ticket, announced as the orders service does (`publish`: now). Returns the order's id.
func reserve(_ app: Application, _ bus: InMemoryBus, _ id: String, buyer: TestClient, cents: Int64 = 2000, publish: Bool = true) async throws -> String {
    let orderId = UUID().uuidString.lowercased()
    if publish { try await bus.publish([try orderCreated(orderId, id, buyer: buyer, cents: cents)]) }
    return orderId
}

private func orderCreated(_ orderId: String, _ id: String, buyer: TestClient, cents: Int64) throws -> OutgoingMessage {
    let order = OrderCreatedEvent(id: orderId, version: 0, status: .created, userId: buyer.userId,
                                  expiresAt: ISOTimestamp.string(Date().addingTimeInterval(900)),
                                  ticket: .init(id: id, price: Money(cents: cents)))
    return OutgoingMessage(subject: Subject.orderCreated.rawValue, id: UUID().uuidString, data: try order.encoded())
}

/// Holding and passes (CONTRACT.md section 7): a paid order's buyer holds the ticket and gets a signed pass that a
/// door can check, online or with the public key alone.
final class PassTests: XCTestCase {
    func testAPaidOrdersBuyerHoldsTheTicketAndSeesItInTheirList() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer)
            let shown = try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object
            XCTAssertEqual(shown["holderId"] as? String, buyer.userId)
            XCTAssertNotNil(shown["orderId"], "orderId stays the order that bought it")
            XCTAssertEqual(shown["version"] as? Int, 2, "reserved, then held")
            try await eventually { bus.events(TicketUpdatedEvent.self).contains { $0.id == id && $0.holderId == buyer.userId && $0.version == 2 } }

            let held = try await buyer.send(.GET, "/api/tickets/held")
            XCTAssertEqual(held.status, .ok)
            XCTAssertEqual((held.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])
            let someoneElse = try await TestClient.signedIn(app).send(.GET, "/api/tickets/held")
            XCTAssertEqual((someoneElse.json as? [[String: Any]])?.count, 0)
            let signedOut = try await TestClient.signedOut(app).send(.GET, "/api/tickets/held")
            XCTAssertEqual(signedOut.status, .unauthorized)
        }
    }

    func testAPaymentThatArrivesBeforeItsOrderWaitsForIt() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer, paymentFirst: true)
            let shown = try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object
            XCTAssertEqual(shown["holderId"] as? String, buyer.userId)
            XCTAssertEqual(shown["version"] as? Int, 2, "reserved, then held: the payment applied after its order")
        }
    }

    /// The expiry won the race with a payment: orders cancels, payments refunds, and the buyer must not keep a pass.
    func testACancellationAfterTheHandOverTakesTheTicketBack() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer)
            let code = try await buyer.send(.GET, "/api/tickets/\(id)/pass").object["code"] as! String
            let before = try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object
            let orderId = try XCTUnwrap(before["orderId"] as? String)
            let cancelled = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: id))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCancelled.rawValue, id: UUID().uuidString, data: try cancelled.encoded())])
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object["orderId"] == nil }
            let shown = try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(id)").object
            XCTAssertNil(shown["holderId"], "no holder once its order is cancelled")
            let held = try await buyer.send(.GET, "/api/tickets/held")
            XCTAssertEqual((held.json as? [[String: Any]])?.count, 0)
            let verdict = try await TestClient.signedOut(app).send(.POST, "/api/tickets/verify", json: #"{"code": "\#(code)"}"#)
            XCTAssertEqual(verdict.object["valid"] as? Bool, false)
        }
    }

    func testTheHeldListIsNewestFirstInPages() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            var ids: [String] = []
            for index in 0..<3 { ids.append(try await heldTicket(app, bus, buyer: buyer, title: "Show \(index)")) }
            let first = try await buyer.send(.GET, "/api/tickets/held?limit=2")
            XCTAssertEqual((first.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, [ids[2], ids[1]])
            let next = try XCTUnwrap(first.headers.first(name: .link))
            XCTAssertEqual(next, #"</api/tickets/held?limit=2&after=\#(ids[1])>; rel="next""#)
            let second = try await buyer.send(.GET, "/api/tickets/held?limit=2&after=\(ids[1])")
            XCTAssertEqual((second.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, [ids[0]])
            let foreign = try await TestClient.signedIn(app).send(.GET, "/api/tickets/held?after=\(ids[0])")
            XCTAssertEqual(foreign.status, .badRequest, "a cursor must be one of the user's own")
        }
    }

    /// "My listings": the seller's own, on sale, reserved or sold, but not withdrawn, newest first in pages.
    func testASellersListingsShowEveryStateButWithdrawnNewestFirst() async throws {
        try await withTickets { app, bus in
            let seller = try await TestClient.signedIn(app)
            let buyer = try await TestClient.signedIn(app)
            let onSale = try await createTicket(seller, title: "On sale")["id"] as! String
            let reserved = try await createTicket(seller, title: "Reserved")["id"] as! String
            _ = try await reserve(app, bus, reserved, buyer: buyer)
            let sold = try await heldTicket(app, bus, buyer: buyer, seller: seller, title: "Sold")
            let withdrawn = try await createTicket(seller, title: "Withdrawn")["id"] as! String
            let withdrawal = try await seller.send(.DELETE, "/api/tickets/\(withdrawn)")
            XCTAssertEqual(withdrawal.status, .noContent)
            try await eventually { try await TestClient.signedOut(app).send(.GET, "/api/tickets/\(reserved)").object["orderId"] != nil }

            let listed = try await seller.send(.GET, "/api/tickets/listed")
            XCTAssertEqual(listed.status, .ok)
            let entries = try XCTUnwrap(listed.json as? [[String: Any]])
            XCTAssertEqual(entries.compactMap { $0["id"] as? String }, [sold, reserved, onSale])
            XCTAssertEqual(entries.map { $0["holderId"] as? String }, [buyer.userId, nil, nil])
            XCTAssertEqual(entries.map { $0["orderId"] != nil }, [true, true, false])

            let first = try await seller.send(.GET, "/api/tickets/listed?limit=2")
            XCTAssertEqual(first.headers.first(name: .link), #"</api/tickets/listed?limit=2&after=\#(reserved)>; rel="next""#)
            let second = try await seller.send(.GET, "/api/tickets/listed?limit=2&after=\(reserved)")
            XCTAssertEqual((second.json as? [[String: Any]])?.compactMap { $0["id"] as? String }, [onSale])
            // A cursor must be one of the user's own listings, and not withdrawn.
            for (client, cursor) in [(seller, withdrawn), (buyer, onSale)] {
                let refused = try await client.send(.GET, "/api/tickets/listed?after=\(cursor)")
                XCTAssertEqual(refused.status, .badRequest)
            }
            let buyers = try await buyer.send(.GET, "/api/tickets/listed")
            XCTAssertEqual((buyers.json as? [[String: Any]])?.count, 0)
            let signedOut = try await TestClient.signedOut(app).send(.GET, "/api/tickets/listed")
            XCTAssertEqual(signedOut.status, .unauthorized)
        }
    }

    func testOnlyTheHolderGetsThePassAndItVerifies() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer, title: "Opera")
            let pass = try await buyer.send(.GET, "/api/tickets/\(id)/pass")
            XCTAssertEqual(pass.status, .ok)
            XCTAssertEqual(Set(pass.object.keys), ["ticketId", "holderId", "serial", "code"])
            XCTAssertEqual(pass.object["ticketId"] as? String, id)
            XCTAssertEqual(pass.object["holderId"] as? String, buyer.userId)
            XCTAssertEqual(pass.object["serial"] as? Int, 1)
            let code = try XCTUnwrap(pass.object["code"] as? String)

            for other in [try await TestClient.signedIn(app), TestClient.signedOut(app)] {
                let refused = try await other.send(.GET, "/api/tickets/\(id)/pass")
                XCTAssertEqual(refused.status, .unauthorized)
            }
            let unknown = try await buyer.send(.GET, "/api/tickets/\(UUID().uuidString.lowercased())/pass")
            XCTAssertEqual(unknown.status, .notFound)

            let door = TestClient.signedOut(app)
            let verdict = try await door.send(.POST, "/api/tickets/verify", json: #"{"code": "\#(code)"}"#)
            XCTAssertEqual(verdict.status, .ok)
            XCTAssertEqual(verdict.object["valid"] as? Bool, true)
            XCTAssertEqual(verdict.object["ticketId"] as? String, id)
            XCTAssertEqual(verdict.object["title"] as? String, "Opera")
            XCTAssertEqual(verdict.object["holderId"] as? String, buyer.userId)
        }
    }

    func testAForgedTamperedOrMalformedCodeIsInvalid() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer)
            let code = try await buyer.send(.GET, "/api/tickets/\(id)/pass").object["code"] as! String
            let otherKey = try PassKey(hex: String(repeating: "ab", count: 32))
            let forged = try otherKey.code(for: Pass(ticketId: id, holderId: buyer.userId, serial: 1))
            let someoneElse = try XCTUnwrap(Pass.parse(code)).pass.signedPart.replacingOccurrences(of: buyer.userId, with: UUID().uuidString.lowercased())
            let lastCharacterChanged = code.dropLast() + (code.last == "A" ? "B" : "A")
            var tampered = Array(code)
            let position = code.count / 2
            tampered[position] = tampered[position] == "a" ? "b" : "a"
            let codes = [
                String(tampered), String(lastCharacterChanged), forged, someoneElse + "." + code.split(separator: ".").last!, code + "x", code.uppercased(),
                String(code.dropLast()), "P1", "", String(repeating: "A", count: 10_000), "P1." + UUID().uuidString.lowercased() + ".x.1." + String(code.split(separator: ".").last!),
            ]
            for candidate in codes {
                let verdict = try await TestClient.signedOut(app).send(.POST, "/api/tickets/verify", json: #"{"code": "\#(candidate)"}"#)
                if candidate.isEmpty {
                    XCTAssertEqual(verdict.status, .badRequest)
                    XCTAssertEqual(verdict.errorEnvelope?.errors, [ErrorItem(message: "Code must be provided", field: "code")])
                    continue
                }
                XCTAssertEqual(verdict.status, .ok, candidate)
                XCTAssertEqual(verdict.object["valid"] as? Bool, false, candidate)
                XCTAssertEqual(verdict.object["reason"] as? String, "invalid", candidate)
            }
        }
    }

    /// The door's view: only the public key, and its own reading of the code's format; no call to the service.
    func testAPassVerifiesOfflineWithThePublicKeyAlone() async throws {
        try await withTickets { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let id = try await heldTicket(app, bus, buyer: buyer)
            let code = try await buyer.send(.GET, "/api/tickets/\(id)/pass").object["code"] as! String
            let published = try await TestClient.signedOut(app).send(.GET, "/api/tickets/pass-key").object
            XCTAssertEqual(published["alg"] as? String, "Ed25519")
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: try XCTUnwrap(base64URL(published["publicKey"] as? String ?? "")))

            func checks(_ code: String) -> Bool {
                guard let dot = code.lastIndex(of: "."), let signature = base64URL(String(code[code.index(after: dot)...])) else { return false }
                return key.isValidSignature(signature, for: Data(code[..<dot].utf8))
            }
            XCTAssertTrue(checks(code))
            XCTAssertEqual(code.split(separator: ".").prefix(4).joined(separator: "."), "P1.\(id).\(buyer.userId).1")
            for index in [3, code.count / 2, code.count - 2] {
                var changed = Array(code)
                changed[index] = changed[index] == "1" ? "2" : "1"
                XCTAssertFalse(checks(String(changed)), "one character changed at \(index)")
            }
        }
    }

    func testVerificationsAreLimitedPerAddress() async throws {
        var config = TestSupport.config(service: "tickets")
        config.limits.verificationsPerAddress = 3
        try await withServiceApp("tickets", configure: { app, _, bus in
            try await app.wireForTesting(.tickets, config, bus: bus)
        }) { app, _ in
            func verify(from address: String) async throws -> XCTHTTPResponse {
                var headers = HTTPHeaders.json()
                headers.add(name: "X-Real-IP", value: address)
                return try await app.testable().sendRequest(.POST, "/api/tickets/verify", headers: headers, body: ByteBuffer(string: #"{"code": "P1.x"}"#))
            }
            for _ in 1...3 {
                let answer = try await verify(from: "192.0.2.7")
                XCTAssertEqual(answer.status, .ok)
            }
            let refused = try await verify(from: "192.0.2.7")
            XCTAssertEqual(refused.status, .tooManyRequests)
            XCTAssertEqual(refused.errorEnvelope?.errors, [ErrorItem(message: "Too many verifications, try again later")])
            let another = try await verify(from: "192.0.2.8")
            XCTAssertEqual(another.status, .ok, "counted per address")
        }
    }
}

/// Check-in (CONTRACT.md section 7): the issuer admits a pass's holder exactly once.
final class CheckInTests: XCTestCase {
    func testTheIssuerAdmitsTheHolderOnceAndThePassThenSaysCheckedIn() async throws {
        try await withTickets { app, bus in
            let (seller, buyer) = (try await TestClient.signedIn(app), try await TestClient.signedIn(app))
            let id = try await heldTicket(app, bus, buyer: buyer, seller: seller)
            let code = try await buyer.send(.GET, "/api/tickets/\(id)/pass").object["code"] as! String
            let body = #"{"code": "\#(code)"}"#

            for other in [buyer, try await TestClient.signedIn(app), TestClient.signedOut(app)] {
                let refused = try await other.send(.POST, "/api/tickets/checkins", json: body)
                XCTAssertEqual(refused.status, .unauthorized, "only the issuer checks in")
            }
            let forged = try await seller.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(code.dropLast())\#(code.last == "A" ? "B" : "A")"}"#)
            XCTAssertEqual(forged.status, .badRequest)
            XCTAssertEqual(forged.errorEnvelope?.errors, [ErrorItem(message: "Pass is not valid")])

            let admitted = try await seller.send(.POST, "/api/tickets/checkins", json: body)
            XCTAssertEqual(admitted.status, .created, admitted.body.string)
            XCTAssertEqual(Set(admitted.object.keys), ["ticketId", "checkedInAt"])
            XCTAssertEqual(admitted.object["ticketId"] as? String, id)
            let at = try XCTUnwrap(admitted.object["checkedInAt"] as? String)
            XCTAssertNotNil(ISOTimestamp.date(at))

            let again = try await seller.send(.POST, "/api/tickets/checkins", json: body)
            XCTAssertEqual(again.status, .conflict)
            XCTAssertEqual(again.errorEnvelope?.errors, [ErrorItem(message: "Already checked in at \(at)")])
            let verdict = try await TestClient.signedOut(app).send(.POST, "/api/tickets/verify", json: body)
            XCTAssertEqual(verdict.object["valid"] as? Bool, false)
            XCTAssertEqual(verdict.object["reason"] as? String, "checked-in")
        }
    }

    func testTenSimultaneousScansOfOnePassAdmitOnce() async throws {
        try await withTickets { app, bus in
            let (seller, buyer) = (try await TestClient.signedIn(app), try await TestClient.signedIn(app))
            let id = try await heldTicket(app, bus, buyer: buyer, seller: seller)
            let code = try await buyer.send(.GET, "/api/tickets/\(id)/pass").object["code"] as! String
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await seller.send(.POST, "/api/tickets/checkins", json: #"{"code": "\#(code)"}"#).status }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0 == .created }.count, 1, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == .conflict }.count, 9, "\(statuses)")
        }
    }
}

private func base64URL(_ text: String) -> Data? {
    var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
    return Data(base64Encoded: standard)
}
