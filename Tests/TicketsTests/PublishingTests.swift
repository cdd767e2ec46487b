import Foundation
import JetStream
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// Events go out as soon as their transaction commits, on every path that writes them, not at the relay's next poll.
final class TicketsPublishingTests: XCTestCase {
    func testARouteAndAListenerPublishWithoutWaitingForThePoll() async throws {
        try await withTickets(tuning: .wakeOnly) { app, bus in
            let seller = try await TestClient.signedIn(app)
            var ticketId = ""
            let byRoute = try await secondsToPublish(TicketCreatedEvent.self, on: bus) {
                ticketId = try await createTicket(seller)["id"] as? String ?? ""
            }
            let order = OrderCreatedEvent(
                id: UUID().uuidString.lowercased(), version: 0, status: .created, userId: "buyer",
                expiresAt: ISOTimestamp.string(Date().addingTimeInterval(900)), ticket: .init(id: ticketId, price: Money(cents: 2000))
            )
            let byListener = try await secondsToPublish(TicketUpdatedEvent.self, on: bus) {
                try await bus.publish([OutgoingMessage(subject: Subject.orderCreated.rawValue, id: UUID().uuidString, data: try order.encoded())])
            }
            XCTAssertLessThan(byRoute, 0.5, "POST /api/tickets: \(byRoute) s against a 60 s poll")
            XCTAssertLessThan(byListener, 0.5, "order:created → ticket:updated: \(byListener) s against a 60 s poll")
        }
    }
}
