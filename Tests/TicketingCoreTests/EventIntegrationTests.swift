import Foundation
import JetStream
@testable import TicketingCore
import TicketingTesting
import XCTVapor

/// The outbox, relay, inbox and dead letters through a real nats-server started for each test.
final class EventIntegrationTests: XCTestCase {
    var server: NATSServer!

    override func setUp() async throws {
        server = try NATSServer()
        try server.start()
    }

    override func tearDown() async throws {
        server = nil
    }

    func withEventApp(_ body: (Application) async throws -> Void) async throws {
        var config = TestSupport.config(service: "events")
        config.natsURL = server.url
        try await TestSupport.withApp(service: "events", config: config, configure: { app, config in
            try await EventFixture.configure(app, config, bus: nil)
        }) { app in
            try await app.asyncBoot()
            try await body(app)
        }
    }

    /// A broker outage must not become a full one: the pods stay in their Service (`/readyz` is the readiness probe),
    /// writes keep succeeding into the outbox, and every event written meanwhile arrives once after the broker is back.
    func testWhileTheBrokerIsDownWritesSucceedThePodStaysReadyAndEveryEventArrivesOnceAfter() async throws {
        try await withEventApp { app in
            let before = try await EventFixture.post(app, "before")
            XCTAssertEqual(before, .created)
            try await eventually { try await EventFixture.applied(app) == ["before"] }
            try await assertBroker(app, "connected", gauge: 1)

            server.stop()
            try await eventually { app.events?.bus.isConnected == false }
            for index in 0..<50 {
                let status = try await EventFixture.post(app, "during-\(index)")
                XCTAssertEqual(status, .created, "requests must not fail because the broker is down")
            }
            let waiting = try await EventFixture.outboxCount(app)
            XCTAssertEqual(waiting, 50)
            let backlog = try await app.testable().sendRequest(.GET, "/metrics").body.string
            XCTAssertTrue(backlog.contains("\noutbox_pending_events 50.0\n"), backlog)
            XCTAssertGreaterThan(try gauge("outbox_oldest_event_age_seconds", in: backlog), 0, "the oldest waits since before the outage")
            let ready = try await app.testable().sendRequest(.GET, "/readyz")
            XCTAssertEqual(ready.status, .ok, "the broker is no reason to leave the Service")
            XCTAssertEqual(try ready.content.decode(HealthReport.self), HealthReport(status: "ready", checks: ["database": "ok"]))
            try await assertBroker(app, "disconnected", gauge: 0)

            try server.start()
            try await eventually(timeout: 20) { try await EventFixture.applied(app).count >= 51 }
            try await Task.sleep(for: .milliseconds(500))
            let applied = try await EventFixture.applied(app)
            XCTAssertEqual(applied.sorted(), (["before"] + (0..<50).map { "during-\($0)" }).sorted(), "each exactly once")
            let left = try await EventFixture.outboxCount(app)
            XCTAssertEqual(left, 0)
            try await assertBroker(app, "connected", gauge: 1)
            let drained = try await app.testable().sendRequest(.GET, "/metrics").body.string
            XCTAssertTrue(drained.contains("\noutbox_pending_events 0.0\n"), drained)
            XCTAssertEqual(try gauge("outbox_oldest_event_age_seconds", in: drained), 0)
            // From the broker itself: the listener's durable consumer has nothing left to deliver.
            XCTAssertNotNil(drained.range(of: #"\nconsumer_pending_events\{consumer="[^"]+"\} 0\.0\n"#, options: .regularExpression), drained)
        }
    }

    /// The value of a gauge without labels in a Prometheus text page.
    func gauge(_ name: String, in page: String) throws -> Double {
        let line = try XCTUnwrap(page.split(separator: "\n").first { $0.hasPrefix(name + " ") }, "no \(name) in \(page)")
        return try XCTUnwrap(Double(line.dropFirst(name.count + 1)))
    }

    /// The broker's state as `/healthz` (always 200: the liveness probe) and `/metrics` report it.
    func assertBroker(_ app: Application, _ state: String, gauge: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let health = try await app.testable().sendRequest(.GET, "/healthz")
        XCTAssertEqual(health.status, .ok, file: file, line: line)
        XCTAssertEqual(try health.content.decode(HealthReport.self), HealthReport(status: "ok", checks: ["broker": state]), file: file, line: line)
        let metrics = try await app.testable().sendRequest(.GET, "/metrics").body.string
        XCTAssertTrue(metrics.contains("\nevents_broker_connected \(Double(gauge))\n"), metrics, file: file, line: line)
    }

    func testAPoisonEventIsParkedAfterTheBoundWhileLaterEventsFlow() async throws {
        try await withEventApp { app in
            _ = try await EventFixture.post(app, "poison-real")
            for index in 0..<5 { _ = try await EventFixture.post(app, "after-\(index)") }
            try await eventually { try await EventFixture.applied(app).count == 5 }
            try await eventually(timeout: 10) { try await Inbox.deadLetters(on: app.db).count == 1 }
            let parked = try await Inbox.deadLetters(on: app.db)
            XCTAssertEqual(parked.first?.payload, #"{"orderId":"poison-real"}"#)
            XCTAssertEqual(parked.first?.deliveries, EventFixture.fastPolicy.maxAttempts)
            // Terminated: it is not delivered again, so nothing more is parked or applied.
            try await Task.sleep(for: .seconds(1))
            let stillParked = try await Inbox.deadLetters(on: app.db).count
            XCTAssertEqual(stillParked, 1)
        }
    }

    func testEventsPublishedTwiceAreAppliedOnce() async throws {
        try await withEventApp { app in
            let event = OutgoingMessage(subject: "expiration:complete", id: "fixed-id", data: Data(#"{"orderId":"twice"}"#.utf8))
            try await app.events!.bus.prepare()
            try await app.events!.bus.publish([event])
            try await app.events!.bus.publish([event])
            // The same event under a new id (a relay's replay after the broker's window) is caught by the inbox instead.
            try await app.sql.raw("INSERT INTO inbox (event_id, subject, received_at) VALUES ('again-id', 'expiration:complete', \(bind: Date()))").run()
            try await app.events!.bus.publish([OutgoingMessage(subject: event.subject, id: "again-id", data: event.data)])
            _ = try await EventFixture.post(app, "marker")
            try await eventually { try await EventFixture.applied(app).contains("marker") }
            let applied = try await EventFixture.applied(app)
            XCTAssertEqual(applied, ["twice", "marker"])
        }
    }
}
