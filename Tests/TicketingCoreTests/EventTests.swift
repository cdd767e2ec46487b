import Foundation
import JetStream
import Synchronization
@testable import TicketingEvents
import TicketingCore
import TicketingTesting
import XCTVapor

/// The outbox, the relay and the listeners on the in-memory bus.
final class EventFlowTests: XCTestCase {
    func withEventApp(bus: InMemoryBus, released: LockedSet = LockedSet(), _ body: (Application) async throws -> Void) async throws {
        try await TestSupport.withApp(service: "events", configure: { app, config in
            try await EventFixture.configure(app, config, bus: bus, released: released)
        }) { app in
            try await app.asyncBoot()
            try await body(app)
        }
    }

    /// An app with the recording listener's tables, and a runner for that listener to drive by hand.
    func withRunner(policy: ListenerPolicy, _ body: (Application, ListenerRunner) async throws -> Void) async throws {
        try await TestSupport.withApp(service: "events", configure: { app, config in
            try await EventFixture.configure(app, config, bus: InMemoryBus())
        }) { app in
            try await body(app, ListenerRunner(RecordingListener(released: LockedSet()), policy: policy, unitOfWork: app.unitOfWork))
        }
    }

    func testCommittedEventsArePublishedInOrderAndAppliedOnce() async throws {
        let bus = InMemoryBus()
        try await withEventApp(bus: bus) { app in
            for index in 0..<20 {
                let status = try await EventFixture.post(app, "order-\(index)")
                XCTAssertEqual(status, .created)
            }
            try await eventually { try await EventFixture.applied(app).count == 20 }
            XCTAssertEqual(bus.published.map { String(decoding: $0.data, as: UTF8.self) },
                           (0..<20).map { #"{"orderId":"order-\#($0)"}"# })
            XCTAssertEqual(Set(bus.published.map(\.subject)), ["expiration:complete"])
            do {
                let actual = try await EventFixture.applied(app)
                XCTAssertEqual(actual, (0..<20).map { "order-\($0)" })
            }
            do {
                let actual = try await EventFixture.outboxCount(app)
                XCTAssertEqual(actual, 0, "published rows leave the outbox")
            }
        }
    }

    func testRequestsKeepSucceedingWhileTheBrokerIsDownAndEventsFlowAfterwards() async throws {
        let bus = InMemoryBus()
        try await withEventApp(bus: bus) { app in
            bus.setConnected(false)
            for index in 0..<10 {
                let status = try await EventFixture.post(app, "offline-\(index)")
                XCTAssertEqual(status, .created)
            }
            try await Task.sleep(for: .milliseconds(300))
            do {
                let actual = try await EventFixture.outboxCount(app)
                XCTAssertEqual(actual, 10, "events wait in the outbox")
            }
            XCTAssertEqual(bus.published.count, 0)

            bus.setConnected(true)
            try await eventually { try await EventFixture.applied(app).count == 10 }
            let applied = try await EventFixture.applied(app)
            XCTAssertEqual(applied.sorted(), (0..<10).map { "offline-\($0)" }.sorted(), "each event applied exactly once")
            do {
                let actual = try await EventFixture.outboxCount(app)
                XCTAssertEqual(actual, 0)
            }
        }
    }

    func testARedeliveredEventChangesNothingTheSecondTime() async throws {
        try await withRunner(policy: EventFixture.fastPolicy) { app, runner in
            let message = FakeDelivery(id: "event-1", data: #"{"orderId":"o-1"}"#)
            let first = await runner.process(message, db: app.db, logger: app.logger)
            let second = await runner.process(message, db: app.db, logger: app.logger)
            XCTAssertEqual([first, second], [.applied, .duplicate])
            XCTAssertEqual(message.settlements, ["ack", "ack"])
            do {
                let actual = try await EventFixture.applied(app)
                XCTAssertEqual(actual, ["o-1"])
            }
        }
    }

    func testTheInboxForgetsAnEventOnlyOnceTheStreamCanNoLongerRedeliverIt() async throws {
        XCTAssertEqual(Inbox.retention, 8 * 86_400, "the stream keeps events 7 days")
        try await withRunner(policy: EventFixture.fastPolicy) { app, runner in
            let recent = FakeDelivery(id: "recent", data: #"{"orderId":"recent"}"#)
            let old = FakeDelivery(id: "old", data: #"{"orderId":"old"}"#)
            let first = await runner.process(batch: [recent, old], db: app.db, logger: app.logger)
            XCTAssertEqual(first, [.applied, .applied])
            let longAgo = Date().addingTimeInterval(-Inbox.retention - 60)
            try await app.sql.raw("UPDATE inbox SET received_at = \(bind: longAgo) WHERE event_id = 'old'").run()

            // A chunk of one row: the pruning goes on until a chunk comes back short.
            let forgotten = try await Inbox.prune(before: Date().addingTimeInterval(-Inbox.retention), on: app.db,
                                                  transactions: app.unitOfWork.transactions, chunk: 1)
            XCTAssertEqual(forgotten, 1)
            let again = await runner.process(FakeDelivery(id: "recent", data: #"{"orderId":"recent"}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(again, .duplicate, "a recent event is still recognised")
            let remaining = try await app.sql.raw("SELECT event_id FROM inbox ORDER BY event_id").all()
                .map { try $0.decode(column: "event_id", as: String.self) }
            XCTAssertEqual(remaining, ["recent"])
        }
    }

    func testABatchWithAFailingEventStillAppliesTheOthersAndAppliesNothingTwice() async throws {
        try await withRunner(policy: EventFixture.fastPolicy) { app, runner in
            let good = FakeDelivery(id: "e-1", data: #"{"orderId":"good-1"}"#)
            let poison = FakeDelivery(id: "e-2", data: #"{"orderId":"poison-2"}"#)
            let other = FakeDelivery(id: "e-3", data: #"{"orderId":"good-3"}"#)
            let results = await runner.process(batch: [good, poison, other], db: app.db, logger: app.logger)
            XCTAssertEqual(results, [.applied, .failed, .applied])
            XCTAssertEqual([good.settlements, poison.settlements, other.settlements], [["ack"], ["nak"], ["ack"]])

            // Redelivered within one batch as well as across batches: still applied once.
            let clean = [
                FakeDelivery(id: "e-4", data: #"{"orderId":"good-4"}"#), FakeDelivery(id: "e-1", data: #"{"orderId":"good-1"}"#),
                FakeDelivery(id: "e-4", data: #"{"orderId":"good-4"}"#),
            ]
            let second = await runner.process(batch: clean, db: app.db, logger: app.logger)
            XCTAssertEqual(second, [.applied, .duplicate, .duplicate])
            XCTAssertEqual(clean.map(\.settlements), [["ack"], ["ack"], ["ack"]])
            let applied = try await EventFixture.applied(app)
            XCTAssertEqual(applied, ["good-1", "good-3", "good-4"])
        }
    }

    func testAnEarlyEventWaitsFarLongerThanAFailingOneBeforeItIsParked() async throws {
        try await withRunner(policy: ListenerPolicy()) { app, runner in
            let policy = ListenerPolicy()
            var results: [ListenerRunner.Result] = []
            for _ in 1...policy.maxAttempts {
                results = [
                    await runner.process(FakeDelivery(id: "e", data: #"{"orderId":"early-x"}"#), db: app.db, logger: app.logger),
                    await runner.process(FakeDelivery(id: "p", data: #"{"orderId":"poison-x"}"#), db: app.db, logger: app.logger),
                ]
            }
            XCTAssertEqual(results, [.retryLater, .deadLettered])
            for _ in policy.maxAttempts + 1..<policy.maxEarlyAttempts {
                let early = await runner.process(FakeDelivery(id: "e", data: #"{"orderId":"early-x"}"#), db: app.db, logger: app.logger)
                XCTAssertEqual(early, .retryLater)
            }
            let parked = await runner.process(FakeDelivery(id: "e", data: #"{"orderId":"early-x"}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(parked, .deadLettered, "an event that never becomes applicable is still parked, not retried forever")
        }
    }

    /// The broker's delivery count used to decide: an event redelivered through a long database outage, or whose
    /// acknowledgements were lost with the broker, was parked at its first real failure. Only the service's own
    /// count of failures does now.
    func testDeliveriesThatWereNotTheEventsFaultDoNotBringItCloserToBeingParked() async throws {
        try await withRunner(policy: EventFixture.fastPolicy) { app, runner in
            let redelivered = { FakeDelivery(id: "p-1", data: #"{"orderId":"poison-1"}"#, deliveryCount: 500) }
            for _ in 1..<EventFixture.fastPolicy.maxAttempts {
                let result = await runner.process(redelivered(), db: app.db, logger: app.logger)
                XCTAssertEqual(result, .failed, "retried: it has not failed its tries yet, however often it was delivered")
            }
            let last = await runner.process(redelivered(), db: app.db, logger: app.logger)
            XCTAssertEqual(last, .deadLettered)
            try await assertEqual(try await Inbox.deadLetters(on: app.db).map(\.event_id), ["p-1"])
        }
    }

    /// Events without an id all used to be "unidentified": the first was applied, every later one acknowledged as a
    /// duplicate without being applied, and their dead letters collided. Each is now parked on its own, applied never.
    func testAnEventWithoutAnIdIsParkedWithItsReasonAndHidesNoOther() async throws {
        try await withRunner(policy: EventFixture.fastPolicy) { app, runner in
            let first = FakeDelivery(id: nil, data: #"{"orderId":"anonymous-1"}"#, streamSequence: 41)
            let second = FakeDelivery(id: nil, data: #"{"orderId":"anonymous-2"}"#, streamSequence: 42)
            let results = await runner.process(batch: [first, second], db: app.db, logger: app.logger)
            XCTAssertEqual(results, [.deadLettered, .deadLettered])
            XCTAssertEqual([first.settlements, second.settlements], [["term"], ["term"]])
            try await assertEqual(try await EventFixture.applied(app), [])
            let parked = try await Inbox.deadLetters(on: app.db)
            XCTAssertEqual(Set(parked.map(\.event_id)), ["no-id:expiration:complete:41", "no-id:expiration:complete:42"])
            XCTAssertTrue(parked.allSatisfy { $0.error.contains("Nats-Msg-Id") }, "\(parked)")
        }
    }

    /// A parked version used to freeze its entity silently: every later version of it arrived "early" and waited
    /// out its tens of minutes of tries, and was parked in turn. It is now parked at once, naming the entity, and
    /// `dead_letters` shows it.
    func testAParkedEventMakesItsEntityVisibleAndItsSuccessorsParkAtOnce() async throws {
        var policy = EventFixture.fastPolicy
        policy.maxEarlyAttempts = 2
        try await withRunner(policy: policy) { app, runner in
            for _ in 1...2 {
                _ = await runner.process(FakeDelivery(id: "v1", data: #"{"orderId":"early-7"}"#), db: app.db, logger: app.logger)
            }
            let next = await runner.process(FakeDelivery(id: "v2", data: #"{"orderId":"early-7"}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(next, .deadLettered, "its predecessor is parked: it can never apply")
            let parked = try await Inbox.deadLetters(on: app.db)
            XCTAssertEqual(Set(parked.map(\.event_id)), ["v1", "v2"])
            XCTAssertTrue(parked.contains { $0.event_id == "v2" && $0.error.contains("order early-7 is parked") }, "\(parked)")
            let unrelated = await runner.process(FakeDelivery(id: "w1", data: #"{"orderId":"early-8"}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(unrelated, .retryLater, "another entity still waits its tries")
            let metrics = TicketingMetrics.registry.emitToString()
            XCTAssertTrue(metrics.contains(#"dead_letters{subject="expiration:complete"} 2"#), metrics)
        }
    }

    /// Only an earlier parked version holds an event up, and a parked event without an id holds up nothing.
    func testOnlyAnEarlierParkedVersionOfTheEntityParksAnEventAtOnce() async throws {
        var policy = EventFixture.fastPolicy
        policy.maxEarlyAttempts = 2
        try await withRunner(policy: policy) { app, runner in
            let parkedV5 = { FakeDelivery(id: "v5", data: #"{"orderId":"early-9","version":5}"#) }
            for _ in 1...2 { _ = await runner.process(parkedV5(), db: app.db, logger: app.logger) }
            let earlier = await runner.process(FakeDelivery(id: "v3", data: #"{"orderId":"early-9","version":3}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(earlier, .retryLater, "a parked later version does not stop an earlier one")
            let later = await runner.process(FakeDelivery(id: "v6", data: #"{"orderId":"early-9","version":6}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(later, .deadLettered)

            _ = await runner.process(FakeDelivery(id: nil, data: #"{"orderId":"early-10"}"#, streamSequence: 7), db: app.db, logger: app.logger)
            let named = await runner.process(FakeDelivery(id: "n1", data: #"{"orderId":"early-10"}"#), db: app.db, logger: app.logger)
            XCTAssertEqual(named, .retryLater, "an event without an id is no part of the entity's history")
        }
    }

    func testAnEarlyEventIsRetriedUntilItCanBeApplied() async throws {
        let bus = InMemoryBus()
        let released = LockedSet()
        try await withEventApp(bus: bus, released: released) { app in
            _ = try await EventFixture.post(app, "early-1")
            _ = try await EventFixture.post(app, "after-1")
            try await eventually { try await EventFixture.applied(app) == ["after-1"] }
            released.insert("early-1")
            try await eventually { try await EventFixture.applied(app) == ["after-1", "early-1"] }
            do {
                let actual = try await Inbox.deadLetters(on: app.db)
                XCTAssertEqual(actual, [])
            }
        }
    }

    func testAPoisonEventIsDeadLetteredAfterTheBoundAndLaterEventsStillFlow() async throws {
        let bus = InMemoryBus()
        try await withEventApp(bus: bus) { app in
            _ = try await EventFixture.post(app, "poison-1")
            _ = try await EventFixture.post(app, "fine-1")
            try await eventually { try await EventFixture.applied(app) == ["fine-1"] }
            try await eventually { try await !Inbox.deadLetters(on: app.db).isEmpty }
            let parked = try await Inbox.deadLetters(on: app.db)
            XCTAssertEqual(parked.map(\.payload), [#"{"orderId":"poison-1"}"#])
            XCTAssertEqual(parked.map(\.deliveries), [3])
            XCTAssertTrue(parked[0].error.contains("PoisonError"), parked[0].error)
            let metrics = TicketingMetrics.registry.emitToString()
            XCTAssertTrue(metrics.contains(#"events_handled_total{subject="expiration:complete",outcome="dead_lettered"}"#), metrics)
        }
    }

    func testWakeSignalIsNeverLost() async {
        let signal = WakeSignal()
        signal.signal()
        let started = Date()
        await signal.wait(timeout: 5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "a signal sent before the wait must end it at once")
        let timed = Date()
        await signal.wait(timeout: 0.2)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(timed), 0.19, "no stale signal may cut the next wait short")
    }
}

final class FakeDelivery: DeliveredMessage, @unchecked Sendable {
    let messageID: String?
    let subject = Subject.expirationComplete.rawValue
    let data: Data
    let deliveryCount: Int
    let streamSequence: UInt64
    private let log = Mutex<[String]>([])
    var settlements: [String] { log.withLock { $0 } }

    init(id: String?, data: String, deliveryCount: Int = 1, streamSequence: UInt64 = 1) {
        messageID = id
        self.data = Data(data.utf8)
        self.deliveryCount = deliveryCount
        self.streamSequence = streamSequence
    }

    func header(_ name: String) -> String? { nil }
    func ack() throws { log.withLock { $0.append("ack") } }
    func nak(delay: Double?) throws { log.withLock { $0.append("nak") } }
    func term() throws { log.withLock { $0.append("term") } }
}
