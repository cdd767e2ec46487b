import CNATS
import Foundation

/// One message to publish: its event id becomes `Nats-Msg-Id`, which JetStream uses to drop duplicates.
public struct OutgoingMessage: Sendable, Equatable {
    public var subject: String
    public var id: String
    public var data: Data
    public var headers: [String: String]

    public init(subject: String, id: String, data: Data, headers: [String: String] = [:]) {
        self.subject = subject
        self.id = id
        self.data = data
        self.headers = headers
    }
}

/// A message fetched from a pull consumer. It owns the C message until it is deinitialised; exactly one of
/// `ack`, `nak`, `term` should settle it (`inProgress` only extends the ack wait).
public final class JetStreamMessage: @unchecked Sendable {
    // The C message is immutable after fetch and libnats's ack calls are thread-safe; this class only keeps it alive.
    private let message: OpaquePointer
    /// Acknowledging goes through the subscription, so it must outlive the message.
    private let subscription: SubscriptionHandle
    public let subject: String
    /// The publisher's `Nats-Msg-Id`, the event id; nil only for messages published without one.
    public let messageID: String?

    init(taking message: OpaquePointer, from subscription: SubscriptionHandle) {
        self.message = message
        self.subscription = subscription
        subject = String(cString: natsMsg_GetSubject(message))
        var value: UnsafePointer<CChar>?
        messageID = natsMsgHeader_Get(message, "Nats-Msg-Id", &value) == NATS_OK ? value.map { String(cString: $0) } : nil
    }

    /// The first value of header `name`, read from the C message when asked for.
    public func header(_ name: String) -> String? {
        var value: UnsafePointer<CChar>?
        return natsMsgHeader_Get(message, name, &value) == NATS_OK ? value.map { String(cString: $0) } : nil
    }

    /// The payload, copied out of the C message when asked for (an ack-only consumer never pays for it).
    public var data: Data {
        let length = Int(natsMsg_GetDataLength(message))
        return length == 0 ? Data() : Data(bytes: natsMsg_GetData(message), count: length)
    }

    /// 1 on the first delivery, counting up on each redelivery. Parsed from the reply subject when asked for.
    public var deliveryCount: Int {
        metadata { Int($0.NumDelivered) } ?? 1
    }

    public var streamSequence: UInt64 {
        metadata { $0.Sequence.Stream } ?? 0
    }

    /// When the stream stored it.
    public var storedAt: Date? {
        metadata { Date(timeIntervalSince1970: Double($0.Timestamp) / 1_000_000_000) }
    }

    /// How many messages of the consumer's subject follow it in the stream (0 for the last one).
    public var pendingAfter: UInt64 {
        metadata { $0.NumPending } ?? 0
    }

    private func metadata<T>(_ read: (jsMsgMetaData) -> T) -> T? {
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        guard natsMsg_GetMetaData(&meta, message) == NATS_OK, let meta else { return nil }
        defer { jsMsgMetaData_Destroy(meta) }
        return read(meta.pointee)
    }

    deinit {
        natsMsg_Destroy(message)
    }

    public func ack() throws {
        try check("ack", natsMsg_Ack(message, nil))
    }

    /// Asks for redelivery now, or after `delay` seconds.
    public func nak(delay: Double? = nil) throws {
        if let delay {
            try check("nak", natsMsg_NakWithDelay(message, Int64(delay * 1_000), nil))
        } else {
            try check("nak", natsMsg_Nak(message, nil))
        }
    }

    /// Resets the ack wait while a long handler is still working.
    public func inProgress() throws {
        try check("in progress", natsMsg_InProgress(message, nil))
    }

    /// Tells the server never to deliver this message again.
    public func term() throws {
        try check("term", natsMsg_Term(message, nil))
    }
}
