import Foundation
import Synchronization
@testable import TicketingEvents
import TicketingCore
import TicketingTesting
import XCTVapor

/// The unit of work wakes the relay after a commit that recorded events, and only then.
final class UnitOfWorkTests: XCTestCase {
    private struct Refused: Error {}

    func testOnlyACommitThatRecordedEventsWakesTheRelay() async throws {
        try await TestSupport.withApp(service: "events", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
        }) { app in
            let wakes = Atomic(0)
            let unit = UnitOfWork(transactions: app.unitOfWork.transactions) { wakes.add(1, ordering: .relaxed) }

            try await unit.run(on: app.db) { tx in try await tx.db.sql.raw("SELECT 1").run() }
            XCTAssertEqual(wakes.load(ordering: .relaxed), 0, "nothing recorded, nothing to publish")

            try await unit.run(on: app.db) { tx in try await tx.record([ExpirationCompleteEvent]()) }
            XCTAssertEqual(wakes.load(ordering: .relaxed), 0, "an empty list records nothing")

            await XCTAssertThrowsErrorAsync(try await unit.run(on: app.db) { tx in
                try await tx.record(ExpirationCompleteEvent(orderId: "rolled-back"))
                throw Refused()
            })
            XCTAssertEqual(wakes.load(ordering: .relaxed), 0, "a rolled-back transaction published nothing")
            try await assertEqual(try await app.sql.raw("SELECT COUNT(*) AS n FROM outbox").first()!.decode(column: "n", as: Int.self), 0)

            try await unit.run(on: app.db) { tx in try await tx.record(ExpirationCompleteEvent(orderId: "kept")) }
            XCTAssertEqual(wakes.load(ordering: .relaxed), 1, "woken once, after the commit")
        }
    }
}

func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("no error was thrown", file: file, line: line)
    } catch {}
}

final class MachineryMigrationTests: XCTestCase {
    /// Fluent knows a migration by its name: the machinery's tables moved module, and a new name would create them again
    /// on every database made before.
    func testTheMachinerysMigrationsKeepTheNamesTheyShippedUnder() {
        XCTAssertEqual(ServiceEvents.migrations.map(\.name), [
            "TicketingCore.CreateOutbox", "TicketingCore.CreateInbox", "TicketingCore.IndexInboxByAge", "TicketingCore.CountEventTries",
            "TicketingEvents.AddOutboxTraceContext",
        ])
    }
}
