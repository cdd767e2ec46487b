import Foundation
import JetStream
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// The operators' console on a real listener: an event parked because its ticket was missing is replayed once the
/// ticket is there, applied exactly once, and gone from the dead letters.
final class DeadLetterTests: XCTestCase {
    func testAParkedEventIsReplayedOnceItsCauseIsGoneAndAppliedExactlyOnce() async throws {
        var policy = ListenerPolicy()
        policy.maxAttempts = 2
        policy.failureBackoff = 0.01
        try await withTickets(tuning: EventTuning(listeners: policy)) { app, bus in
            let ticketId = UUID()
            let buyer = try await TestClient.signedIn(app)
            let order = OrderCreatedEvent(id: UUID().uuidString.lowercased(), version: 0, status: .created, userId: buyer.userId,
                                          expiresAt: ISOTimestamp.string(Date().addingTimeInterval(900)),
                                          ticket: .init(id: ticketId.uuidString.lowercased(), price: Money(cents: 2000)))
            let eventID = UUID().uuidString
            try await bus.publish([OutgoingMessage(subject: Subject.orderCreated.rawValue, id: eventID, data: try order.encoded())])
            try await eventually { try await Inbox.deadLetters(on: app.db).map(\.event_id) == [eventID] }

            let desk = DeadLetterDesk(listeners: [OrderCreatedListener()], unitOfWork: app.unitOfWork, db: app.db, logger: app.logger)
            let parked = try await desk.list()
            XCTAssertEqual(parked.map(\.entity), ["order \(order.id)"])
            try await assertEqual(try await desk.show(eventID)?.payload, String(decoding: try order.encoded(), as: UTF8.self))
            try await assertEqual(try await desk.replay(eventID).outcome, .failed, "the ticket is still missing")
            try await assertEqual(try await desk.list().count, 1, "a failed replay leaves it parked")

            // The cause goes away: the ticket is there now.
            try await Ticket(id: ticketId, title: "Late", price: Money(cents: 2000), userId: "seller").create(on: app.db)
            try await assertEqual(try await desk.replay(eventID), .init(eventId: eventID, outcome: .applied))
            try await assertEqual(try await Ticket.find(ticketId, on: app.db)?.orderId, order.id)
            try await eventually { bus.events(TicketUpdatedEvent.self).contains { $0.id == order.ticket.id && $0.orderId == order.id } }
            try await assertEqual(try await desk.list().count, 0)
            try await assertEqual(try await desk.replay(eventID).outcome, .notFound)

            // Delivered again (a redelivery, a second publication): the inbox has it, nothing changes.
            try await assertEqual(try await apply(OrderCreatedListener(), order, app), .done)
            try await assertEqual(try await Ticket.find(ticketId, on: app.db)?.version, 1, "reserved once")
            XCTAssertEqual(bus.events(TicketUpdatedEvent.self).filter { $0.id == order.ticket.id }.count, 1)
        }
    }

    func testDiscardingRemovesAParkedEventWithoutApplyingIt() async throws {
        var policy = ListenerPolicy()
        policy.maxAttempts = 1
        try await withTickets(tuning: EventTuning(listeners: policy)) { app, bus in
            let order = OrderCreatedEvent(id: UUID().uuidString.lowercased(), version: 0, status: .created, userId: "buyer",
                                          expiresAt: ISOTimestamp.string(Date()), ticket: .init(id: "not-a-ticket", price: Money(cents: 1)))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCreated.rawValue, id: "poison", data: try order.encoded())])
            try await eventually { try await Inbox.deadLetters(on: app.db).count == 1 }
            let desk = DeadLetterDesk(listeners: [OrderCreatedListener()], unitOfWork: app.unitOfWork, db: app.db, logger: app.logger)
            try await assertEqual(try await desk.discard("poison"), true)
            try await assertEqual(try await desk.discard("poison"), false)
            try await assertEqual(try await desk.list().count, 0)
            try await assertEqual(try await OrderVersions.version(of: order.id, on: app.db) == nil, true, "never applied")
        }
    }
}
