import Foundation
@testable import JetStream
import Logging
import TicketingTesting
import XCTest

final class JetStreamTests: XCTestCase {
    var server: NATSServer!
    var connections: [JetStreamConnection] = []
    let stream = StreamConfiguration(name: "TEST", subjects: ["thing:created", "thing:updated"])

    override func setUp() async throws {
        server = try NATSServer()
        try server.start()
    }

    override func tearDown() async throws {
        for connection in connections { await connection.close() }
        connections = []
        server = nil
    }

    func connect() async throws -> JetStreamConnection {
        let connection = try await JetStreamConnection.connect(urls: server.url, name: "test", logger: Logger(label: "test"))
        connections.append(connection)
        try await connection.ensureStream(stream)
        return connection
    }

    func message(_ index: Int, subject: String = "thing:created", id: String? = nil) -> OutgoingMessage {
        OutgoingMessage(subject: subject, id: id ?? "event-\(index)", data: Data(#"{"n":\#(index)}"#.utf8))
    }

    func consumer(_ durable: String = "group_thing-created", ackWait: Double = 30, maxDeliver: Int = 5) -> ConsumerConfiguration {
        ConsumerConfiguration(durable: durable, subject: "thing:created", ackWaitSeconds: ackWait, maxDeliver: maxDeliver)
    }

    /// Fetches until `count` messages arrived or `timeout` passed.
    func drain(_ subscription: PullSubscription, count: Int, timeout: Double = 5, ack: Bool = true) async throws -> [JetStreamMessage] {
        var received: [JetStreamMessage] = []
        let deadline = Date().addingTimeInterval(timeout)
        while received.count < count, Date() < deadline {
            let batch = try await subscription.fetch(batch: 64, timeout: 0.2)
            if ack { try batch.forEach { try $0.ack() } }
            received += batch
        }
        return received
    }

    func testServersAreLoggedWithoutTheirCredentials() {
        XCTAssertEqual(
            JetStreamConnection.withoutCredentials("nats://tickets:s3cr@t@nats-0.nats:4222,nats://nats-1.nats:4222"),
            "nats://***@nats-0.nats:4222,nats://nats-1.nats:4222"
        )
    }

    func testPublishedMessagesArriveWithExactPayloadAndId() async throws {
        let connection = try await connect()
        try await connection.publish((0..<10).map { message($0) })
        try await connection.publish(OutgoingMessage(
            subject: "thing:created", id: "with-header", data: Data("x".utf8), headers: ["traceparent": "00-abc-def-01"]
        ))
        let subscription = try await connection.pullSubscribe(stream: "TEST", consumer())
        let received = try await drain(subscription, count: 11)
        XCTAssertEqual(received.map(\.messageID), (0..<10).map { "event-\($0)" } + ["with-header"])
        XCTAssertEqual(received.map { String(decoding: $0.data, as: UTF8.self) }.prefix(2), [#"{"n":0}"#, #"{"n":1}"#])
        XCTAssertEqual(Set(received.map(\.subject)), ["thing:created"])
        XCTAssertEqual(received.map(\.deliveryCount), Array(repeating: 1, count: 11))
    }

    func testDuplicateIdsAreDroppedByTheServer() async throws {
        let connection = try await connect()
        try await connection.publish([message(1), message(2)])
        try await connection.publish([message(1), message(2), message(3)])
        let subscription = try await connection.pullSubscribe(stream: "TEST", consumer())
        let received = try await drain(subscription, count: 4, timeout: 1.5)
        XCTAssertEqual(received.map(\.messageID), ["event-1", "event-2", "event-3"])
    }

    func testUnacknowledgedMessageIsRedeliveredAfterTheAckWait() async throws {
        let connection = try await connect()
        try await connection.publish(message(1))
        let subscription = try await connection.pullSubscribe(stream: "TEST", consumer(ackWait: 1))
        let first = try await drain(subscription, count: 1, ack: false)
        XCTAssertEqual(first.map(\.deliveryCount), [1])
        let again = try await drain(subscription, count: 1, timeout: 4)
        XCTAssertEqual(again.map(\.messageID), ["event-1"])
        XCTAssertEqual(again.map(\.deliveryCount), [2])
    }

    func testNakWithDelayRedeliversAfterTheDelayAndTermNever() async throws {
        let connection = try await connect()
        try await connection.publish([message(1), message(2)])
        let subscription = try await connection.pullSubscribe(stream: "TEST", consumer())
        let first = try await drain(subscription, count: 2, ack: false)
        let started = Date()
        try first[0].nak(delay: 0.5)
        try first[1].term()
        let again = try await drain(subscription, count: 1, timeout: 3)
        XCTAssertEqual(again.map(\.messageID), ["event-1"])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.45)
        let nothing = try await drain(subscription, count: 1, timeout: 1.5)
        XCTAssertEqual(nothing.count, 0, "a terminated message must not come back")
    }

    func testReplicasSharingADurableConsumerSplitTheMessages() async throws {
        let publisher = try await connect()
        let first = try await connect().pullSubscribe(stream: "TEST", consumer("shared"))
        let second = try await connect().pullSubscribe(stream: "TEST", consumer("shared"))
        try await publisher.publish((0..<200).map { message($0) })

        async let fromFirst = Self.drainIds(first)
        async let fromSecond = Self.drainIds(second)
        let (a, b) = try await (fromFirst, fromSecond)
        XCTAssertTrue(Set(a).isDisjoint(with: Set(b)), "a message went to both replicas")
        XCTAssertEqual(Set(a).union(b), Set((0..<200).map { "event-\($0)" }))
        XCTAssertEqual(a.count + b.count, 200)
        XCTAssertGreaterThan(a.count, 0)
        XCTAssertGreaterThan(b.count, 0)
    }

    /// Small batches, so that both replicas get a turn while the other works.
    static func drainIds(_ subscription: PullSubscription) async throws -> [String] {
        var ids: [String] = []
        var emptyFetches = 0
        while emptyFetches < 3 {
            let batch = try await subscription.fetch(batch: 5, timeout: 0.3)
            emptyFetches = batch.isEmpty ? emptyFetches + 1 : 0
            for message in batch {
                try message.ack()
                ids.append(message.messageID ?? "")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ids
    }

    func testDurableConsumerResumesWhereItStoppedAfterItsOwnRestart() async throws {
        let publisher = try await connect()
        try await publisher.publish((0..<10).map { message($0) })
        let before = try await connect()
        let first = try await before.pullSubscribe(stream: "TEST", consumer()).fetch(batch: 4, timeout: 2)
        try first.forEach { try $0.ack() }
        XCTAssertEqual(first.map(\.messageID), (0..<4).map { "event-\($0)" })
        await before.close()

        try await publisher.publish((10..<15).map { message($0) })
        let after = try await connect()
        let rest = try await drain(try await after.pullSubscribe(stream: "TEST", consumer()), count: 11)
        XCTAssertEqual(rest.map(\.messageID), (4..<15).map { "event-\($0)" }, "acknowledged messages must not return")
    }

    func testConsumerAndPublisherSurviveABrokerRestartWithoutLoss() async throws {
        let connection = try await connect()
        let subscription = try await connection.pullSubscribe(stream: "TEST", consumer())
        try await connection.publish((0..<5).map { message($0) })
        let before = try await drain(subscription, count: 5)
        XCTAssertEqual(before.count, 5)

        server.stop()
        try await waitFor { !connection.isConnected }
        do {
            try await connection.publish(message(99), timeout: 0.5)
            XCTFail("publishing to a stopped broker must fail, not pretend")
        } catch {}
        try server.start()
        try await waitFor { connection.isConnected }

        try await retry { try await connection.publish((5..<10).map { self.message($0) }) }
        let after = try await drain(subscription, count: 5, timeout: 10)
        XCTAssertEqual(Set(after.compactMap(\.messageID)).isSuperset(of: (5..<10).map { "event-\($0)" }), true)
    }

    func waitFor(timeout: Double = 10, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw TimedOut() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct TimedOut: Error {}

    func retry(_ body: () async throws -> Void) async throws {
        for attempt in 1...20 {
            do { return try await body() } catch where attempt < 20 { try await Task.sleep(for: .milliseconds(250)) }
        }
    }
}
