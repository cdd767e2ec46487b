import Foundation
import Logging
import JetStream

/// What services need from the broker. `JetStreamBus` is the real one; `InMemoryBus`, in TicketingTesting, has the
/// same delivery rules for fast unit tests of listeners.
public protocol EventBus: Sendable {
    /// Publishes in order; returns once every message is stored (or known to be a duplicate).
    func publish(_ messages: [OutgoingMessage]) async throws
    /// Makes sure the stream for the contract's subjects exists. Safe to call again.
    func prepare() async throws
    func subscribe(_ consumer: ConsumerConfiguration) async throws -> any EventSource
    var isConnected: Bool { get }
    func close() async
    /// The broker's view of its durable consumers' progress, by name, in one call; empty where the bus keeps none.
    func consumerStates() async throws -> [String: ConsumerState]
}

extension EventBus {
    public func consumerStates() async throws -> [String: ConsumerState] { [:] }
}

/// A durable consumer's messages.
public protocol EventSource: Sendable {
    /// Up to `batch` messages, waiting at most `timeout` seconds; empty when none came.
    func fetch(batch: Int, timeout: Double) async throws -> [any DeliveredMessage]
}

/// A delivery of one message; settle it with exactly one of `ack`, `nak` or `term`.
public protocol DeliveredMessage: Sendable {
    var messageID: String? { get }
    var subject: String { get }
    var data: Data { get }
    /// 1 on the first delivery.
    var deliveryCount: Int { get }
    /// The message's place in the stream: names a message that came without an id.
    var streamSequence: UInt64 { get }
    /// A header's value: the publisher's trace context travels in them.
    func header(_ name: String) -> String?
    func ack() throws
    func nak(delay: Double?) throws
    func term() throws
}

extension JetStreamMessage: DeliveredMessage {}

/// A JetStream pull consumer as an event source.
struct JetStreamSource: EventSource {
    let subscription: PullSubscription

    func fetch(batch: Int, timeout: Double) async throws -> [any DeliveredMessage] {
        try await subscription.fetch(batch: batch, timeout: timeout)
    }
}

/// The event bus on NATS JetStream: one stream, `TICKETING`, holding the six subjects.
public final class JetStreamBus: EventBus {
    public static let streamName = "TICKETING"
    let connection: JetStreamConnection
    let stream: StreamConfiguration

    public init(connection: JetStreamConnection, replicas: Int = 1) {
        self.connection = connection
        stream = StreamConfiguration(name: Self.streamName, subjects: Subject.allCases.map(\.rawValue), replicas: replicas)
    }

    public static func connect(urls: String, name: String, replicas: Int = 1, logger: Logger) async throws -> JetStreamBus {
        JetStreamBus(connection: try await JetStreamConnection.connect(urls: urls, name: name, logger: logger), replicas: replicas)
    }

    public func publish(_ messages: [OutgoingMessage]) async throws {
        try await connection.publish(messages)
    }

    public func prepare() async throws {
        try await connection.ensureStream(stream)
    }

    public func subscribe(_ consumer: ConsumerConfiguration) async throws -> any EventSource {
        JetStreamSource(subscription: try await connection.pullSubscribe(stream: stream.name, consumer))
    }

    public var isConnected: Bool { connection.isConnected }

    public func consumerStates() async throws -> [String: ConsumerState] {
        try await connection.consumerStates(stream: stream.name)
    }

    public func close() async {
        await connection.close()
    }
}

/// A bus that never connects, for a tool that writes through the unit of work and leaves publishing to the running
/// service's relay, which polls the outbox (the dead-letter console).
public struct OfflineBus: EventBus {
    struct Offline: Error, CustomStringConvertible {
        var description: String { "this process does not publish: the service's relay does" }
    }

    public init() {}
    public func publish(_ messages: [OutgoingMessage]) async throws { throw Offline() }
    public func prepare() async throws {}
    public func subscribe(_ consumer: ConsumerConfiguration) async throws -> any EventSource { throw Offline() }
    public var isConnected: Bool { false }
    public func close() async {}
}
