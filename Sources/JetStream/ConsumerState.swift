import CNATS

/// What the broker knows of a durable consumer's progress, for lag metrics and the operators' console.
public struct ConsumerState: Codable, Sendable, Equatable {
    /// Messages of the consumer's subject in the stream that it has not been delivered yet.
    public var pending: UInt64
    /// Delivered and not yet acknowledged.
    public var waitingForAck: Int64
    /// Delivered more than once and not yet acknowledged.
    public var redelivered: Int64

    public init(pending: UInt64, waitingForAck: Int64, redelivered: Int64) {
        self.pending = pending
        self.waitingForAck = waitingForAck
        self.redelivered = redelivered
    }
}

extension JetStreamConnection {
    /// Every consumer of the stream and its state, by name, as the broker reports them now; the broker has
    /// `waitSeconds` to answer.
    public func consumerStates(stream: String, waitSeconds: Double = 1) async throws -> [String: ConsumerState] {
        try await blocking { [self] in
            var list: UnsafeMutablePointer<jsConsumerInfoList>?
            var errorCode = jsErrCode(rawValue: 0)
            var options = jsOptions()
            jsOptions_Init(&options)
            options.Wait = Int64(waitSeconds * 1_000)
            let status = js_Consumers(&list, context, stream, &options, &errorCode)
            // A stream without consumers yet answers "not found" with no JetStream error code.
            if status == NATS_NOT_FOUND, errorCode.rawValue == 0 { return [:] }
            try check("consumers of \(stream)", status, errorCode)
            defer { jsConsumerInfoList_Destroy(list) }
            guard let list, let infos = list.pointee.List else { return [:] }
            var states: [String: ConsumerState] = [:]
            for index in 0..<Int(list.pointee.Count) {
                guard let info = infos[index], let name = info.pointee.Name else { continue }
                states[String(cString: name)] = ConsumerState(info.pointee)
            }
            return states
        }
    }

}

extension ConsumerState {
    init(_ info: jsConsumerInfo) {
        self.init(pending: info.NumPending, waitingForAck: info.NumAckPending, redelivered: info.NumRedelivered)
    }
}
