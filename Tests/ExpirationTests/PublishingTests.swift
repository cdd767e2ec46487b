import Foundation
import JetStream
@testable import Expiration
import TicketingCore
import TicketingTesting
import XCTVapor

/// The scheduler's expiries go out as soon as the transaction that claims them commits, not at the relay's next poll.
final class ExpirationPublishingTests: XCTestCase {
    func testTheSchedulerPublishesWithoutWaitingForThePoll() async throws {
        try await withExpiration(tuning: .wakeOnly) { _, bus in
            let due = Date().addingTimeInterval(0.05)
            let delay = try await secondsToPublish(ExpirationCompleteEvent.self, on: bus) {
                try await bus.publish([orderCreated(expiresAt: due)])
            }
            XCTAssertLessThan(delay, 0.5, "order:created due now → expiration:complete: \(delay) s against a 60 s poll")
        }
    }
}
