import Foundation
import JetStream
import Synchronization
import TicketingCore

/// A broker in memory with JetStream's delivery rules as this system relies on them: ids seen before are dropped,
/// each durable consumer sees every message once unless it is not acknowledged in time, nak'ed or redelivered,
/// replicas sharing a durable split the messages. For unit tests only; integration tests use nats-server.
public final class InMemoryBus: EventBus {
    private struct Stored {
        var subject: String
        var id: String
        var data: Data
        var headers: [String: String]
    }

    private struct Pending {
        var deliveries: Int
        var redeliverAt: Date
    }

    private struct Consumer {
        var configuration: ConsumerConfiguration
        var next = 0
        var pending: [Int: Pending] = [:]
    }

    private struct State {
        var messages: [Stored] = []
        var ids: Set<String> = []
        var consumers: [String: Consumer] = [:]
        var connected = true
    }

    private let state = Mutex(State())

    public init() {}

    /// All messages published so far, in order.
    public var published: [OutgoingMessage] {
        state.withLock { $0.messages.map { OutgoingMessage(subject: $0.subject, id: $0.id, data: $0.data, headers: $0.headers) } }
    }

    /// Simulates a broker outage: publishes fail and fetches return nothing until reconnected.
    public func setConnected(_ connected: Bool) {
        state.withLock { $0.connected = connected }
    }

    public func publish(_ messages: [OutgoingMessage]) async throws {
        try state.withLock { state in
            guard state.connected else { throw BusUnavailable() }
            for message in messages where state.ids.insert(message.id).inserted {
                state.messages.append(Stored(subject: message.subject, id: message.id, data: message.data, headers: message.headers))
            }
        }
    }

    public func prepare() async throws {}

    public func subscribe(_ consumer: ConsumerConfiguration) async throws -> any EventSource {
        state.withLock { state in
            if state.consumers[consumer.durable] == nil {
                state.consumers[consumer.durable] = Consumer(configuration: consumer)
            }
        }
        return Source(bus: self, durable: consumer.durable)
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// As JetStream counts: messages of each consumer's subject not delivered yet, and those delivered and not settled.
    public func consumerStates() async throws -> [String: ConsumerState] {
        state.withLock { state in
            state.consumers.mapValues { consumer in
                let undelivered = state.messages[consumer.next...].filter { $0.subject == consumer.configuration.subject }.count
                let redelivered = consumer.pending.values.filter { $0.deliveries > 1 }.count
                return ConsumerState(pending: UInt64(undelivered), waitingForAck: Int64(consumer.pending.count), redelivered: Int64(redelivered))
            }
        }
    }

    public func close() async {}

    struct Source: EventSource {
        let bus: InMemoryBus
        let durable: String

        func fetch(batch: Int, timeout: Double) async throws -> [any DeliveredMessage] {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let messages = bus.take(durable: durable, batch: batch)
                if !messages.isEmpty || Date() >= deadline { return messages }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    private func take(durable: String, batch: Int) -> [any DeliveredMessage] {
        state.withLock { state in
            guard state.connected, var consumer = state.consumers[durable] else { return [] }
            let now = Date()
            var taken: [any DeliveredMessage] = []
            let ackWait = consumer.configuration.ackWaitSeconds
            let maxDeliver = consumer.configuration.maxDeliver
            for (index, pending) in consumer.pending.sorted(by: { $0.key < $1.key }) where taken.count < batch {
                guard pending.redeliverAt <= now else { continue }
                if maxDeliver > 0, pending.deliveries >= maxDeliver {
                    consumer.pending[index] = nil
                    continue
                }
                consumer.pending[index] = Pending(deliveries: pending.deliveries + 1, redeliverAt: now.addingTimeInterval(ackWait))
                taken.append(delivery(durable, index, state.messages[index], pending.deliveries + 1))
            }
            while taken.count < batch, consumer.next < state.messages.count {
                let index = consumer.next
                consumer.next += 1
                let subject = consumer.configuration.subject
                guard state.messages[index].subject == subject else { continue }
                consumer.pending[index] = Pending(deliveries: 1, redeliverAt: now.addingTimeInterval(ackWait))
                taken.append(delivery(durable, index, state.messages[index], 1))
            }
            state.consumers[durable] = consumer
            return taken
        }
    }

    private func delivery(_ durable: String, _ index: Int, _ stored: Stored, _ count: Int) -> Delivery {
        Delivery(
            bus: self, durable: durable, index: index, messageID: stored.id, subject: stored.subject, data: stored.data,
            headers: stored.headers, deliveryCount: count
        )
    }

    fileprivate func settle(_ index: Int, durable: String, redeliverAfter delay: Double?) {
        state.withLock { state in
            if let delay {
                state.consumers[durable]?.pending[index]?.redeliverAt = Date().addingTimeInterval(delay)
            } else {
                state.consumers[durable]?.pending[index] = nil
            }
        }
    }

    struct Delivery: DeliveredMessage {
        let bus: InMemoryBus
        let durable: String
        let index: Int
        let messageID: String?
        let subject: String
        let data: Data
        let headers: [String: String]
        let deliveryCount: Int
        var streamSequence: UInt64 { UInt64(index + 1) }

        func header(_ name: String) -> String? { headers[name] }

        func ack() throws { bus.settle(index, durable: durable, redeliverAfter: nil) }
        func nak(delay: Double?) throws { bus.settle(index, durable: durable, redeliverAfter: delay ?? 0) }
        func term() throws { bus.settle(index, durable: durable, redeliverAfter: nil) }
    }
}

/// The in-memory bus's answer while it simulates an outage.
public struct BusUnavailable: Error {}
