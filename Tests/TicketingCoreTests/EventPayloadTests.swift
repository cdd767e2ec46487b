import Foundation
import JetStream
import Synchronization
@testable import TicketingEvents
import TicketingCore
import TicketingTesting
import XCTVapor

final class EventPayloadTests: XCTestCase {
    func json(_ event: some Event) throws -> String {
        String(decoding: try event.encoded(), as: UTF8.self)
    }

    func testPayloadsAreTheContractsFieldForField() throws {
        let price = try XCTUnwrap(Money(dollars: Decimal(string: "12.5")!))
        XCTAssertEqual(
            try json(TicketCreatedEvent(id: "t1", version: 0, title: "Concert", price: price, userId: "u1")),
            #"{"id":"t1","price":12.5,"title":"Concert","userId":"u1","version":0}"#
        )
        XCTAssertEqual(
            try json(TicketUpdatedEvent(id: "t1", version: 1, title: "Concert", price: price, userId: "u1", orderId: nil)),
            #"{"id":"t1","price":12.5,"title":"Concert","userId":"u1","version":1}"#
        )
        XCTAssertEqual(
            try json(TicketUpdatedEvent(id: "t1", version: 2, title: "C", price: Money(cents: 2000), userId: "u1", orderId: "o1")),
            #"{"id":"t1","orderId":"o1","price":20,"title":"C","userId":"u1","version":2}"#
        )
        XCTAssertEqual(
            try json(TicketUpdatedEvent(id: "t1", version: 3, title: "C", price: Money(cents: 2000), userId: "u1", orderId: "o1", holderId: "u2")),
            #"{"holderId":"u2","id":"t1","orderId":"o1","price":20,"title":"C","userId":"u1","version":3}"#
        )
        XCTAssertEqual(
            try json(TicketUpdatedEvent(id: "t1", version: 4, title: "C", price: Money(cents: 2000), userId: "u1", orderId: "o1", holderId: "u2", resold: true)),
            #"{"holderId":"u2","id":"t1","orderId":"o1","price":20,"resold":true,"title":"C","userId":"u1","version":4}"#
        )
        XCTAssertEqual(
            try json(TicketUpdatedEvent(id: "r1", version: 1, title: "C", price: Money(cents: 2000), userId: "u2", orderId: nil, withdrawn: true)),
            #"{"id":"r1","price":20,"title":"C","userId":"u2","version":1,"withdrawn":true}"#
        )
        XCTAssertEqual(
            try json(TicketCreatedEvent(id: "r1", version: 0, title: "C", price: Money(cents: 2000), userId: "u2", resaleOf: "t1")),
            #"{"id":"r1","price":20,"resaleOf":"t1","title":"C","userId":"u2","version":0}"#
        )
        XCTAssertEqual(
            try json(OrderCreatedEvent(
                id: "o1", version: 0, status: .created, userId: "u2", expiresAt: "2026-11-22T10:15:00.000Z",
                ticket: .init(id: "t1", price: Money(cents: 999))
            )),
            #"{"expiresAt":"2026-11-22T10:15:00.000Z","id":"o1","status":"created","ticket":{"id":"t1","price":9.99},"userId":"u2","version":0}"#
        )
        XCTAssertEqual(try json(OrderCancelledEvent(id: "o1", version: 1, ticket: .init(id: "t1"))),
                       #"{"id":"o1","ticket":{"id":"t1"},"version":1}"#)
        XCTAssertEqual(try json(ExpirationCompleteEvent(orderId: "o1")), #"{"orderId":"o1"}"#)
        XCTAssertEqual(try json(PaymentCreatedEvent(id: "p1", orderId: "o1", stripeId: "ch_1")),
                       #"{"id":"p1","orderId":"o1","stripeId":"ch_1"}"#)
        XCTAssertEqual(try json(SessionRevokedEvent(sessionId: "s1", expiresAt: "2026-11-29T10:15:00.000Z")),
                       #"{"expiresAt":"2026-11-29T10:15:00.000Z","sessionId":"s1"}"#)
        XCTAssertEqual(OrderStatus.awaitingPayment.rawValue, "awaiting:payment")
        XCTAssertEqual(Subject.allCases.map(\.rawValue), [
            "ticket:created", "ticket:updated", "order:created", "order:cancelled", "expiration:complete", "payment:created",
            "session:revoked",
        ])
    }

    func testMoneyKeepsExactCentsAndRefusesFractionsOfACent() throws {
        let decoded = try JSONDecoder().decode([Money].self, from: Data("[20, 12.5, 9.99, 0.1, 1000000]".utf8))
        XCTAssertEqual(decoded.map(\.cents), [2000, 1250, 999, 10, 100_000_000])
        XCTAssertThrowsError(try JSONDecoder().decode([Money].self, from: Data("[9.999]".utf8)))
        XCTAssertEqual(String(decoding: try JSONEncoder().encode([Money(cents: 1)]), as: UTF8.self), "[0.01]")
    }

    func testMoneyIsWrittenAsTheTwoDecimalAmountAndReadBackToTheSameCents() throws {
        let written = [Money(cents: 2000), Money(cents: 1250), Money(cents: 999), Money(cents: 10), Money(cents: 123_456_789_012)]
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(written), as: UTF8.self), "[20,12.5,9.99,0.1,1234567890.12]")
        let every = (0..<20_000).map { Money(cents: Int64($0)) } + (0..<2_000).map { _ in Money(cents: .random(in: 0..<(1 << 50))) }
        XCTAssertEqual(try JSONDecoder().decode([Money].self, from: JSONEncoder().encode(every)), every)
    }

    func testTimestampsAreISO8601WithMillisecondsInUTC() {
        let date = Date(timeIntervalSince1970: 1_795_400_100.25)
        XCTAssertEqual(ISOTimestamp.string(date), "2026-11-23T02:15:00.250Z")
        XCTAssertEqual(ISOTimestamp.date("2026-11-23T02:15:00.250Z"), date)
    }
}
