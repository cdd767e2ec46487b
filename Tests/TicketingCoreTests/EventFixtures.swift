import Foundation
import SQLKit
import Synchronization
@testable import TicketingEvents
import TicketingCore
import TicketingTesting
import XCTVapor

/// A table the test listener writes one row into per application, so an event applied twice shows as two rows.
struct CreateApplied: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("applied")
            .field("n", .int64, .identifier(auto: true))
            .field("order_id", .string, .required)
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("applied").delete()
    }
}

/// Applies `expiration:complete` by recording the order id. Ids starting with `poison` always fail;
/// ids starting with `early` ask to be retried until `released` holds them.
struct RecordingListener: Listener {
    let queueGroup = "test-service"
    let released: LockedSet

    func onMessage(_ event: ExpirationCompleteEvent, context: ListenerContext) async throws -> ListenerOutcome {
        if event.orderId.hasPrefix("poison") { throw PoisonError() }
        if event.orderId.hasPrefix("early"), !released.contains(event.orderId) { return .retryLater }
        try await context.db.sql.raw("INSERT INTO applied (order_id) VALUES (\(bind: event.orderId))").run()
        return .done
    }
}

struct PoisonError: Error {}

final class LockedSet: Sendable {
    private let values = Mutex(Set<String>())
    func insert(_ value: String) { _ = values.withLock { $0.insert(value) } }
    func contains(_ value: String) -> Bool { values.withLock { $0.contains(value) } }
}

struct ThingInput: Content {
    var orderId: String
}

enum EventFixture {
    /// A service with one route that records an event in the same transaction as a row of its own,
    /// and the recording listener.
    static func configure(
        _ app: Application, _ config: TicketingConfig, bus: (any EventBus)?, released: LockedSet = LockedSet(),
        policy: ListenerPolicy = fastPolicy
    ) async throws {
        let service = ServiceDefinition(
            name: "events", defaultPort: 0, routes: [], publishes: [.expirationComplete], consumes: [.expirationComplete],
            migrations: [CreateApplied()]
        ) { _ in ServiceParts(listeners: [RecordingListener(released: released)]) }
        try await app.wireForTesting(service, config, bus: bus, tuning: EventTuning(listeners: policy))
        app.post("things") { request -> HTTPStatus in
            let input = try request.content.decode(ThingInput.self)
            try await request.transaction { tx in try await tx.record(ExpirationCompleteEvent(orderId: input.orderId)) }
            return .created
        }
    }

    static let fastPolicy: ListenerPolicy = {
        var policy = ListenerPolicy()
        policy.maxAttempts = 3
        policy.failureBackoff = 0.05
        policy.failureBackoffCap = 0.2
        policy.retryLaterDelay = 0.05
        return policy
    }()

    static func applied(_ app: Application) async throws -> [String] {
        try await app.sql.raw("SELECT order_id FROM applied ORDER BY n").all().map { try $0.decode(column: "order_id", as: String.self) }
    }

    static func outboxCount(_ app: Application) async throws -> Int {
        try await app.sql.raw("SELECT COUNT(*) AS c FROM outbox").first()?.decode(column: "c", as: Int.self) ?? -1
    }

    static func post(_ app: Application, _ orderId: String) async throws -> HTTPStatus {
        try await app.testable().sendRequest(
            .POST, "/things", headers: .json(), body: ByteBuffer(string: #"{"orderId":"\#(orderId)"}"#)
        ).status
    }
}
