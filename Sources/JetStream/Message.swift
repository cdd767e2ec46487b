import CNATS
import Foundation

/// A message fetched from a pull consumer. It owns the C message until it is deinitialised; exactly one of
/// `ack`, `nak`, `term` should settle it (`inProgress` only extends the ack wait).
public final class JetStreamMessage: @unchecked Sendable {
    // The C message is immutable after fetch and libnats's ack calls are thread-safe; this class only keeps it alive.
    private let message: OpaquePointer
    public let subject: String
    public let data: Data
    /// The publisher's `Nats-Msg-Id`, the event id; nil only for messages published without one.
    public let messageID: String?
    /// 1 on the first delivery, counting up on each redelivery.
    public let deliveryCount: Int
    public let streamSequence: UInt64

    init(taking message: OpaquePointer) {
        self.message = message
        subject = String(cString: natsMsg_GetSubject(message))
        let length = Int(natsMsg_GetDataLength(message))
        data = length == 0 ? Data() : Data(bytes: natsMsg_GetData(message), count: length)
        var value: UnsafePointer<CChar>?
        messageID = natsMsgHeader_Get(message, "Nats-Msg-Id", &value) == NATS_OK ? value.map { String(cString: $0) } : nil
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, message) == NATS_OK, let meta {
            deliveryCount = Int(meta.pointee.NumDelivered)
            streamSequence = meta.pointee.Sequence.Stream
            jsMsgMetaData_Destroy(meta)
        } else {
            deliveryCount = 1
            streamSequence = 0
        }
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
