import Orders
import TicketingCore
import TicketingTesting
import XCTVapor

final class MigrationTests: XCTestCase {
    /// Two replicas starting together on an empty database used to race each other's `CREATE TABLE`s, and one failed.
    /// Only PostgreSQL is shared by replicas (a SQLite file belongs to one process), so this test runs in the
    /// PostgreSQL pass of scripts/test (`TEST_DATABASE_URL`) and has nothing to test in the SQLite one.
    func testReplicasStartingTogetherOnAnEmptyDatabaseAllStartAndMigrateOnce() async throws {
        try XCTSkipUnless(TestSupport.isPostgres, "only a PostgreSQL database is shared by replicas")
        let config = TestSupport.config(service: "orders")
        // The race is lost only some of the time, so it gets several fresh databases to show.
        for round in 1...8 {
            try await TestSupport.resetPostgres()
            let replicas = [try await Application.make(.testing), try await Application.make(.testing)]
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for replica in replicas {
                        group.addTask { try await replica.wireForTesting(.orders, config, bus: InMemoryBus()) }
                    }
                    try await group.waitForAll()
                }
                // Fluent's log holds a name at most once, so each migration ran once: none may be missing.
                let left = try await replicas[0].migrator.previewPrepareBatch().get()
                XCTAssertTrue(left.isEmpty, "round \(round): \(left.map(\.0.name)) not migrated")
            } catch {
                for replica in replicas { try? await replica.asyncShutdown() }
                // PostgreSQL's own message (which statement collided) is only in the error's reflection.
                return XCTFail("round \(round): \(String(reflecting: error))")
            }
            for replica in replicas { try await replica.asyncShutdown() }
        }
    }
}
