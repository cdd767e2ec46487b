import Foundation
@testable import Expiration
import JetStream
import SQLKit
import TicketingCore
import TicketingTesting
import XCTVapor

/// `order:created` for an order expiring at `expiresAt`, as the orders service publishes it.
func orderCreated(_ id: String = UUID().uuidString.lowercased(), expiresAt: Date) -> OutgoingMessage {
    let event = OrderCreatedEvent(
        id: id, version: 0, status: .created, userId: "buyer", expiresAt: ISOTimestamp.string(expiresAt),
        ticket: .init(id: UUID().uuidString.lowercased(), price: Money(cents: 1000))
    )
    return OutgoingMessage(subject: Subject.orderCreated.rawValue, id: UUID().uuidString, data: try! event.encoded())
}

/// The expiration service on an in-memory bus, booted so its listener and scheduler run.
func withExpiration(
    config: TicketingConfig? = nil, keepingDatabase: Bool = false, tuning: EventTuning = EventTuning(),
    _ body: (Application, InMemoryBus) async throws -> Void
) async throws {
    let bus = InMemoryBus()
    try await TestSupport.withApp(service: "expiration", config: config, keepingDatabase: keepingDatabase, configure: { app, config in
        try await app.wireForTesting(.expiration, config, bus: bus, tuning: tuning)
    }) { app in
        try await app.asyncBoot()
        try await body(app, bus)
    }
}

final class ExpirationTests: XCTestCase {
    func testAnOrderExpiresAtItsExpiresAtAndNotBefore() async throws {
        try await withExpiration { app, bus in
            let id = UUID().uuidString.lowercased()
            let due = Date().addingTimeInterval(0.6)
            try await bus.publish([orderCreated(id, expiresAt: due)])
            try await Task.sleep(for: .milliseconds(300))
            XCTAssertEqual(bus.events(ExpirationCompleteEvent.self).count, 0, "nothing fires early")
            try await eventually(timeout: 3) { !bus.events(ExpirationCompleteEvent.self).isEmpty }
            XCTAssertGreaterThanOrEqual(Date(), due)
            XCTAssertLessThan(Date().timeIntervalSince(due), 1, "fires within a second of expiresAt")
            XCTAssertEqual(bus.events(ExpirationCompleteEvent.self), [ExpirationCompleteEvent(orderId: id)])
            try await assertEqual(try await Schedule.pendingCount(on: app.db), 0)
        }
    }

    func testARedeliveredOrderCreatedExpiresOnce() async throws {
        try await withExpiration { app, bus in
            let id = UUID().uuidString.lowercased()
            let due = Date().addingTimeInterval(0.3)
            // The same order twice under two event ids (a producer's replay), and once more after it fired.
            try await bus.publish([orderCreated(id, expiresAt: due), orderCreated(id, expiresAt: due)])
            try await eventually { bus.events(ExpirationCompleteEvent.self).count == 1 }
            try await Task.sleep(for: .milliseconds(400))
            XCTAssertEqual(bus.events(ExpirationCompleteEvent.self).count, 1)
        }
    }

    func testAnUnreadableExpiresAtIsRefusedNotScheduledAtRandom() async throws {
        try await withExpiration { app, _ in
            let bad = OrderCreatedEvent(id: "o", version: 0, status: .created, userId: "u", expiresAt: "tomorrow",
                                        ticket: .init(id: "t", price: Money(cents: 1)))
            let scheduler = Scheduler(database: { app.db }, unitOfWork: app.unitOfWork, logger: app.logger)
            do {
                _ = try await apply(OrderCreatedListener(scheduler: scheduler), bad, app)
                XCTFail("an unreadable time must fail so the event is retried and parked")
            } catch is InvalidExpiry {}
            try await assertEqual(try await Schedule.pendingCount(on: app.db), 0)
        }
    }

    func testPendingExpiriesSurviveARestartAndThoseDueWhileDownFireOnceRightAfterStart() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("expiration-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var config = TestSupport.config(service: "expiration")
        if !TestSupport.isPostgres { config.databaseURL = "sqlite://\(file)" }
        let soon = (0..<5).map { _ in UUID().uuidString.lowercased() }
        let later = UUID().uuidString.lowercased()
        try await withExpiration(config: config) { app, bus in
            try await bus.publish(soon.map { orderCreated($0, expiresAt: Date().addingTimeInterval(1)) }
                + [orderCreated(later, expiresAt: Date().addingTimeInterval(3_600))])
            try await eventually { try await Schedule.pendingCount(on: app.db) == 6 }
            XCTAssertEqual(bus.events(ExpirationCompleteEvent.self).count, 0)
        }
        // Down while they fall due.
        try await Task.sleep(for: .milliseconds(1_300))
        try await withExpiration(config: config, keepingDatabase: true) { app, bus in
            let started = Date()
            try await eventually(timeout: 3) { bus.events(ExpirationCompleteEvent.self).count == 5 }
            XCTAssertLessThan(Date().timeIntervalSince(started), 1)
            try await Task.sleep(for: .milliseconds(500))
            XCTAssertEqual(Set(bus.events(ExpirationCompleteEvent.self).map(\.orderId)), Set(soon))
            XCTAssertEqual(bus.events(ExpirationCompleteEvent.self).count, 5, "each once")
            try await assertEqual(try await Schedule.pendingCount(on: app.db), 1, "the later one still waits")
        }
    }

    func testAHundredThousandPendingExpiriesDoNotDelayTheOnesDueNow() async throws {
        try await withExpiration { app, bus in
            let far = Date().addingTimeInterval(86_400).epochMilliseconds
            try await app.unitOfWork.run(on: app.db) { tx in
                for first in stride(from: 0, to: 100_000, by: 2_000) {
                    let rows = (first..<first + 2_000).map { index in
                        SQLGroupExpression([SQLBind("pending-\(index)"), SQLBind(far + Int64(index))])
                    }
                    try await tx.db.sql.raw("INSERT INTO expirations (order_id, due_ms) VALUES \(SQLList(rows))").run()
                }
            }
            let due = Date().addingTimeInterval(0.5)
            let soon = (0..<50).map { _ in UUID().uuidString.lowercased() }
            try await bus.publish(soon.map { orderCreated($0, expiresAt: due) })
            try await eventually(timeout: 3) { bus.events(ExpirationCompleteEvent.self).count == 50 }
            XCTAssertLessThan(Date().timeIntervalSince(due), 1)
            try await assertEqual(try await Schedule.pendingCount(on: app.db), 100_000)
        }
    }

    func testTwoReplicasOnOneDatabaseFireEachExpiryOnce() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("expiration-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var config = TestSupport.config(service: "expiration")
        if !TestSupport.isPostgres { config.databaseURL = "sqlite://\(file)" }
        let ids = (0..<400).map { _ in UUID().uuidString.lowercased() }
        try await withExpiration(config: config) { first, firstBus in
            try await withExpiration(config: config, keepingDatabase: true) { _, secondBus in
                let due = Date().addingTimeInterval(0.3)
                try await first.unitOfWork.run(on: first.db) { tx in
                    for id in ids { try await Schedule.add(orderId: id, due: due, on: tx.db) }
                }
                try await eventually(timeout: 5) {
                    firstBus.events(ExpirationCompleteEvent.self).count + secondBus.events(ExpirationCompleteEvent.self).count >= 400
                }
                try await Task.sleep(for: .milliseconds(500))
                let fired = (firstBus.events(ExpirationCompleteEvent.self) + secondBus.events(ExpirationCompleteEvent.self)).map(\.orderId)
                XCTAssertEqual(fired.count, 400, "no expiry fired by both replicas")
                XCTAssertEqual(Set(fired), Set(ids))
            }
        }
    }

    func testMetricsReportPendingExpiriesAndLateness() async throws {
        try await withExpiration { app, bus in
            try await bus.publish([orderCreated(expiresAt: Date().addingTimeInterval(0.2)), orderCreated(expiresAt: Date().addingTimeInterval(600))])
            try await eventually { bus.events(ExpirationCompleteEvent.self).count == 1 }
            try await eventually(timeout: 8) {
                try await app.testable().sendRequest(.GET, "/metrics").body.string.contains("expirations_pending 1")
            }
            let metrics = try await app.testable().sendRequest(.GET, "/metrics").body.string
            XCTAssertTrue(metrics.contains("expiration_lateness_seconds_bucket"), metrics)
            XCTAssertTrue(metrics.contains("expirations_fired_total"), metrics)
        }
    }
}

/// Through a real nats-server: the service's consumer, its outbox relay, and the stream.
final class ExpirationBrokerTests: XCTestCase {
    func testAThousandOrdersExpiringWithinTwoSecondsAllFireOnTimeAndOnce() async throws {
        let server = try NATSServer()
        try server.start()
        var config = TestSupport.config(service: "expiration")
        config.natsURL = server.url
        try await TestSupport.withApp(service: "expiration", config: config, configure: { app, config in
            try await app.wireForTesting(.expiration, config, bus: nil)
        }) { app in
            try await app.asyncBoot()
            let bus = app.events!.bus
            try await bus.prepare()
            let observer = try await bus.subscribe(ConsumerConfiguration(durable: "test-observer", subject: Subject.expirationComplete.rawValue))
            let start = Date().addingTimeInterval(3)
            var due: [String: Date] = [:]
            var messages: [OutgoingMessage] = []
            for index in 0..<1_000 {
                let id = UUID().uuidString.lowercased()
                due[id] = start.addingTimeInterval(Double(index % 200) / 100)
                messages.append(orderCreated(id, expiresAt: due[id]!))
            }
            try await bus.publish(messages)

            var lateness: [String: Double] = [:]
            let giveUp = start.addingTimeInterval(15)
            while lateness.count < 1_000, Date() < giveUp {
                for message in try await observer.fetch(batch: 256, timeout: 0.5) {
                    let event = try JSONDecoder().decode(ExpirationCompleteEvent.self, from: message.data)
                    XCTAssertNil(lateness[event.orderId], "fired twice: \(event.orderId)")
                    lateness[event.orderId] = Date().timeIntervalSince(due[event.orderId] ?? .distantFuture)
                    try message.ack()
                }
            }
            XCTAssertEqual(lateness.count, 1_000)
            let sorted = lateness.values.sorted()
            XCTAssertGreaterThanOrEqual(sorted.first ?? -1, 0, "none fires before its time")
            XCTAssertLessThan(sorted.last ?? 99, 1, "all within a second")
            print("expiration: 1,000 expiries over 2 s, lateness p50 \(sorted[500]) s, max \(sorted.last!) s")
        }
    }
}
