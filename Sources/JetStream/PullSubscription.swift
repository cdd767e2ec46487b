import CNATS

/// A durable pull consumer. Replicas that subscribe with the same durable name share its messages.
public final class PullSubscription: Sendable {
    let handle: SubscriptionHandle
    let connection: JetStreamConnection
    public let configuration: ConsumerConfiguration

    init(handle: SubscriptionHandle, connection: JetStreamConnection, configuration: ConsumerConfiguration) {
        self.handle = handle
        self.connection = connection
        self.configuration = configuration
    }

    /// Up to `batch` messages, waiting at most `timeout` seconds for the first; empty when none arrived in time.
    public func fetch(batch: Int, timeout: Double) async throws -> [JetStreamMessage] {
        try await connection.blocking { [handle] in
            var list = natsMsgList()
            var errorCode = jsErrCode(rawValue: 0)
            let status = natsSubscription_Fetch(&list, handle.pointer, Int32(batch), Int64(timeout * 1_000), &errorCode)
            if status == NATS_TIMEOUT { return [] }
            try check("fetch \(self.configuration.durable)", status, errorCode)
            var messages: [JetStreamMessage] = []
            messages.reserveCapacity(Int(list.Count))
            for index in 0..<Int(list.Count) {
                if let message = list.Msgs[index] {
                    messages.append(JetStreamMessage(taking: message, from: handle))
                    // Ownership moved to the Swift message; the list must not destroy it.
                    list.Msgs[index] = nil
                }
            }
            natsMsgList_Destroy(&list)
            return messages
        }
    }

    /// The messages as an async sequence that fetches a batch whenever the previous one is used up,
    /// so the server never hands out more than the consumer is working on. Ends when the task is cancelled.
    public func messages(batch: Int = 64, pollTimeout: Double = 1) -> Messages {
        Messages(subscription: self, batch: batch, pollTimeout: pollTimeout)
    }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = JetStreamMessage
        let subscription: PullSubscription
        let batch: Int
        let pollTimeout: Double

        public func makeAsyncIterator() -> Iterator {
            Iterator(subscription: subscription, batch: batch, pollTimeout: pollTimeout)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let subscription: PullSubscription
            let batch: Int
            let pollTimeout: Double
            var buffered: [JetStreamMessage] = []

            public mutating func next() async throws -> JetStreamMessage? {
                while buffered.isEmpty {
                    if Task.isCancelled { return nil }
                    buffered = try await subscription.fetch(batch: batch, timeout: pollTimeout).reversed()
                }
                return buffered.popLast()
            }
        }
    }

    /// Stops receiving; the durable consumer stays on the server with its position.
    public func unsubscribe() async {
        _ = try? await connection.blocking { [handle] in
            natsSubscription_Unsubscribe(handle.pointer)
        }
    }
}

/// The C subscription, destroyed once nothing refers to it; it keeps its connection alive until then.
final class SubscriptionHandle: @unchecked Sendable {
    // Used only through libnats calls that lock internally; destroyed once in deinit.
    let pointer: OpaquePointer
    let connection: JetStreamConnection

    init(_ pointer: OpaquePointer, connection: JetStreamConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        natsSubscription_Destroy(pointer)
    }
}
