import Foundation
import JetStream
@testable import Orders
import TicketingCore
import TicketingTesting
import XCTVapor

func withOrders(
    window: Int = 900, limits: AbuseLimits = TestSupport.generousLimits, tuning: EventTuning = EventTuning(),
    _ body: (Application, InMemoryBus) async throws -> Void
) async throws {
    try await withServiceApp("orders", configure: { app, config, bus in
        var config = config
        config.expirationWindowSeconds = window
        config.limits = limits
        try await app.wireForTesting(.orders, config, bus: bus, tuning: tuning)
    }, body)
}

/// Puts a ticket into the orders service's replica the way it arrives in production: as a `ticket:created` event.
@discardableResult
func replicate(
    _ app: Application, _ bus: InMemoryBus, title: String = "Concert", cents: Int64 = 2000, seller: String = "seller"
) async throws -> String {
    let id = UUID().uuidString.lowercased()
    let event = TicketCreatedEvent(id: id, version: 0, title: title, price: Money(cents: cents), userId: seller)
    try await bus.publish([OutgoingMessage(subject: Subject.ticketCreated.rawValue, id: UUID().uuidString, data: try event.encoded())])
    try await eventually { try await ReplicatedTicket.find(id, on: app.db) != nil }
    return id
}
