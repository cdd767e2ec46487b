/// The stream every event goes through, and the durable pull consumers that read it.
public struct StreamConfiguration: Sendable, Equatable {
    public var name: String
    public var subjects: [String]
    /// Messages republished with the same `Nats-Msg-Id` within this window are dropped by the server.
    public var duplicateWindowSeconds: Int64
    /// How long events are kept, so that a consumer created later (a new service) still reads the history.
    public var maxAgeSeconds: Int64
    public var replicas: Int
    public var memoryStorage: Bool

    public init(
        name: String,
        subjects: [String],
        duplicateWindowSeconds: Int64 = 120,
        maxAgeSeconds: Int64 = 7 * 86_400,
        replicas: Int = 1,
        memoryStorage: Bool = false
    ) {
        self.name = name
        self.subjects = subjects
        self.duplicateWindowSeconds = duplicateWindowSeconds
        self.maxAgeSeconds = maxAgeSeconds
        self.replicas = replicas
        self.memoryStorage = memoryStorage
    }
}

public struct ConsumerConfiguration: Sendable, Equatable {
    /// Shared by every replica of a service: they pull from one durable consumer and so split the messages.
    public var durable: String
    public var subject: String
    /// A message not acknowledged within this time is delivered again.
    public var ackWaitSeconds: Double
    /// Deliveries after which the server gives up on a message; the listener parks it before that happens.
    public var maxDeliver: Int
    /// Unacknowledged messages the server hands out at once across all replicas.
    public var maxAckPending: Int

    public init(durable: String, subject: String, ackWaitSeconds: Double = 30, maxDeliver: Int = 5, maxAckPending: Int = 1_000) {
        self.durable = durable
        self.subject = subject
        self.ackWaitSeconds = ackWaitSeconds
        self.maxDeliver = maxDeliver
        self.maxAckPending = maxAckPending
    }

    /// A durable name from a queue group and a subject: the server allows neither `:` nor `.` in it.
    public static func durableName(group: String, subject: String) -> String {
        "\(group)_\(subject)".map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }.reduce(into: "") { $0.append($1) }
    }
}
