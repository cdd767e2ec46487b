import CNATS
import Foundation

/// Reads a stream in order from a point in time, through an ordered ephemeral consumer: the broker keeps no state for
/// it once closed and acknowledges nothing, so reading never disturbs the services' durable consumers. For the
/// operators' console (`ticketing events tail`, `history`).
public final class StreamReader: Sendable {
    let handle: SubscriptionHandle
    let connection: JetStreamConnection

    init(handle: SubscriptionHandle, connection: JetStreamConnection) {
        self.handle = handle
        self.connection = connection
    }

    /// The next message, waiting at most `timeout` seconds; nil when none came.
    public func next(timeout: Double) async throws -> JetStreamMessage? {
        try await connection.blocking { [handle] in
            var message: OpaquePointer?
            let status = natsSubscription_NextMsg(&message, handle.pointer, Int64(timeout * 1_000))
            if status == NATS_TIMEOUT { return nil }
            try check("next message", status)
            return message.map { JetStreamMessage(taking: $0, from: handle) }
        }
    }

    public func close() async {
        _ = try? await connection.blocking { [handle] in natsSubscription_Unsubscribe(handle.pointer) }
    }
}

extension JetStreamConnection {
    /// A reader of `stream`'s messages on `subject` (every subject: `>`), from the first stored at or after `since`,
    /// or from the stream's beginning.
    public func reader(stream: String, subject: String = ">", since: Date? = nil) async throws -> StreamReader {
        let handle = try await blocking { [self] in
            try stream.withCString { stream in
                try subject.withCString { subject in
                    var options = jsSubOptions()
                    jsSubOptions_Init(&options)
                    options.Stream = stream
                    options.Ordered = true
                    if let since {
                        options.Config.DeliverPolicy = js_DeliverByStartTime
                        options.Config.OptStartTime = Int64(since.timeIntervalSince1970 * 1_000_000_000)
                    } else {
                        options.Config.DeliverPolicy = js_DeliverAll
                    }
                    var subscription: OpaquePointer?
                    var errorCode = jsErrCode(rawValue: 0)
                    try check("read \(stream)", js_SubscribeSync(&subscription, context, subject, nil, &options, &errorCode), errorCode)
                    return SubscriptionHandle(subscription!, connection: self)
                }
            }
        }
        return StreamReader(handle: handle, connection: self)
    }
}
