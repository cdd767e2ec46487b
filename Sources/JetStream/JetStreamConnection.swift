import CNATS
import Foundation
import Logging
import NIOPosix
import Synchronization

/// A connection to NATS with its JetStream context.
///
/// Every blocking libnats call (publish waiting for its acknowledgement, fetch waiting for messages) runs on a
/// thread pool this connection owns, never on a Swift concurrency or event-loop thread.
public final class JetStreamConnection: @unchecked Sendable {
    // libnats connections, JetStream contexts and subscriptions are documented as safe to use from several threads;
    // the pointers never change after `connect`, and `closed` guards the single teardown.
    private let connection: OpaquePointer
    let context: OpaquePointer
    /// A second context for pipelined publishes, whose acknowledgements `tracker` collects. Kept for the
    /// connection's life: libnats subscribes a reply inbox per context, too costly to repeat per batch.
    private let asyncContext: OpaquePointer
    private let tracker: PublishTracker
    private let batchLock = Mutex(())
    private let pool: NIOThreadPool
    private let closed = Mutex(false)
    let logger: Logger

    private init(opened: Opened, pool: NIOThreadPool, logger: Logger) {
        connection = opened.connection
        context = opened.context
        asyncContext = opened.asyncContext
        tracker = opened.tracker
        self.pool = pool
        self.logger = logger
    }

    /// Connects to the first reachable server of `urls` (comma-separated). When none is reachable yet the connection
    /// is still returned and keeps trying in the background, as it does after losing a server: callers see
    /// `isConnected == false` and failing publishes until then, never a crash.
    public static func connect(urls: String, name: String, blockingThreads: Int = 8, logger: Logger) async throws -> JetStreamConnection {
        let pool = NIOThreadPool(numberOfThreads: blockingThreads)
        pool.start()
        do {
            let opened = try await pool.runIfActive { try Self.open(urls: urls, name: name) }
            return JetStreamConnection(opened: opened, pool: pool, logger: logger)
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    /// The two pointers `open` hands from a pool thread to the new connection object.
    private struct Opened: @unchecked Sendable {
        var connection: OpaquePointer
        var context: OpaquePointer
        var asyncContext: OpaquePointer
        var tracker: PublishTracker
    }

    /// The servers as a log may show them: a URL's `user:password@` comes from a Secret.
    public static func withoutCredentials(_ urls: String) -> String {
        urls.split(separator: ",").map { url in
            guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return String(url) }
            return String(url[..<scheme.upperBound]) + "***@" + String(url[url.index(after: at)...])
        }.joined(separator: ",")
    }

    private static func open(urls: String, name: String) throws -> Opened {
        var options: OpaquePointer?
        try check("options", natsOptions_Create(&options))
        defer { natsOptions_Destroy(options) }
        let servers = urls.split(separator: ",").map { strdup(String($0.trimmingCharacters(in: .whitespaces)))! }
        defer { servers.forEach { free($0) } }
        var serverPointers = servers.map { UnsafePointer<CChar>($0) as UnsafePointer<CChar>? }
        try check("servers", natsOptions_SetServers(options, &serverPointers, Int32(serverPointers.count)))
        try check("name", natsOptions_SetName(options, name))
        try check("reconnect", natsOptions_SetMaxReconnect(options, -1))
        try check("reconnect wait", natsOptions_SetReconnectWait(options, 250))
        try check("timeout", natsOptions_SetTimeout(options, 2_000))
        // With a callback set, a first connect that fails returns at once and keeps retrying in the background.
        try check("retry", natsOptions_SetRetryOnFailedConnect(options, true, { _, _ in }, nil))

        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, options)
        guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
            throw JetStreamError("connect to \(Self.withoutCredentials(urls))", status)
        }
        let tracker = PublishTracker()
        var asyncOptions = jsOptions()
        jsOptions_Init(&asyncOptions)
        asyncOptions.PublishAsync.MaxPending = 4_096
        // The tracker lives as long as the connection object, which outlives every callback (see `close`).
        asyncOptions.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(tracker).toOpaque()
        asyncOptions.PublishAsync.AckHandler = { _, message, _, failure, closure in
            let tracker = Unmanaged<PublishTracker>.fromOpaque(closure!).takeUnretainedValue()
            tracker.settle(failure.map { failure in
                "\(String(cString: natsStatus_GetText(failure.pointee.Err))) (JetStream error \(failure.pointee.ErrCode.rawValue))"
                    + (failure.pointee.ErrText.map { ": " + String(cString: $0) } ?? "")
            })
            natsMsg_Destroy(message)
        }
        var context: OpaquePointer?
        var asyncContext: OpaquePointer?
        var contextStatus = natsConnection_JetStream(&context, connection, nil)
        if contextStatus == NATS_OK { contextStatus = natsConnection_JetStream(&asyncContext, connection, &asyncOptions) }
        guard contextStatus == NATS_OK, let context, let asyncContext else {
            jsCtx_Destroy(context)
            natsConnection_Destroy(connection)
            throw JetStreamError("JetStream context", contextStatus)
        }
        return Opened(connection: connection, context: context, asyncContext: asyncContext, tracker: tracker)
    }

    public var isConnected: Bool {
        natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED
    }

    /// Creates the stream, or updates it to `configuration` when it exists.
    public func ensureStream(_ configuration: StreamConfiguration) async throws {
        try await blocking { [self] in
            let subjects = configuration.subjects.map { strdup($0)! }
            defer { subjects.forEach { free($0) } }
            var subjectPointers = subjects.map { UnsafePointer<CChar>($0) as UnsafePointer<CChar>? }
            try configuration.name.withCString { name in
                try subjectPointers.withUnsafeMutableBufferPointer { subjectBuffer in
                    var config = jsStreamConfig()
                    jsStreamConfig_Init(&config)
                    config.Name = name
                    config.Subjects = subjectBuffer.baseAddress
                    config.SubjectsLen = Int32(subjectBuffer.count)
                    config.Storage = configuration.memoryStorage ? js_MemoryStorage : js_FileStorage
                    config.Retention = js_LimitsPolicy
                    config.Duplicates = configuration.duplicateWindowSeconds * 1_000_000_000
                    config.MaxAge = configuration.maxAgeSeconds * 1_000_000_000
                    config.Replicas = Int64(configuration.replicas)

                    var info: UnsafeMutablePointer<jsStreamInfo>?
                    var errorCode = jsErrCode(rawValue: 0)
                    var status = js_GetStreamInfo(&info, context, name, nil, &errorCode)
                    if status == NATS_NOT_FOUND {
                        status = js_AddStream(&info, context, &config, nil, &errorCode)
                        // Another replica may have created it between the two calls.
                        if status != NATS_OK, errorCode.rawValue == 10058 {
                            status = js_UpdateStream(&info, context, &config, nil, &errorCode)
                        }
                    } else if status == NATS_OK {
                        jsStreamInfo_Destroy(info)
                        info = nil
                        status = js_UpdateStream(&info, context, &config, nil, &errorCode)
                    }
                    if let info { jsStreamInfo_Destroy(info) }
                    try check("ensure stream \(configuration.name)", status, errorCode)
                }
            }
        }
    }

    /// Publishes one message and waits for the server's acknowledgement (it is stored, or was a duplicate).
    public func publish(_ message: OutgoingMessage, timeout: Double = 5) async throws {
        try await blocking { [self] in
            let natsMessage = try Self.makeMessage(message)
            defer { natsMsg_Destroy(natsMessage) }
            try message.id.withCString { id in
                var options = jsPubOptions()
                jsPubOptions_Init(&options)
                options.MsgId = id
                options.MaxWait = Int64(timeout * 1_000)
                var errorCode = jsErrCode(rawValue: 0)
                try check("publish \(message.subject)", js_PublishMsg(nil, context, natsMessage, &options, &errorCode), errorCode)
            }
        }
    }

    /// Publishes messages in order, pipelined, and returns once the server has acknowledged every one of them.
    /// Throws if any was refused or not acknowledged in time; publishing the same batch again is then safe,
    /// because the server drops ids it has already stored.
    public func publish(_ messages: [OutgoingMessage], timeout: Double = 5) async throws {
        guard messages.count > 1 else {
            if let message = messages.first { try await publish(message, timeout: timeout) }
            return
        }
        try await blocking { [self] in
            try publishBlocking(messages, timeout: timeout)
        }
    }

    private func publishBlocking(_ messages: [OutgoingMessage], timeout: Double) throws {
        // One batch at a time on the shared async context: completion waits for everything it has in flight.
        try batchLock.withLock { _ in
            tracker.reset()
            for message in messages {
                var natsMessage = try Self.makeMessage(message)
                var status = NATS_OK
                message.id.withCString { id in
                    var options = jsPubOptions()
                    jsPubOptions_Init(&options)
                    options.MsgId = id
                    status = js_PublishMsgAsync(asyncContext, &natsMessage, &options)
                }
                natsMsg_Destroy(natsMessage)
                try check("publish \(message.subject)", status)
            }
            var completion = jsPubOptions()
            jsPubOptions_Init(&completion)
            completion.MaxWait = Int64(timeout * 1_000)
            let status = js_PublishAsyncComplete(asyncContext, &completion)
            if status != NATS_OK {
                // Messages still waiting will never be settled now: take them back so the next batch starts clean.
                var pending = natsMsgList()
                if js_PublishAsyncGetPendingList(&pending, asyncContext) == NATS_OK {
                    natsMsgList_Destroy(&pending)
                }
                throw JetStreamError("publish \(messages.count) messages", status)
            }
            if let failure = tracker.firstFailure {
                throw JetStreamError("publish", message: failure)
            }
        }
    }

    private static func makeMessage(_ message: OutgoingMessage) throws -> OpaquePointer? {
        var natsMessage: OpaquePointer?
        let status = message.data.withUnsafeBytes { bytes in
            natsMsg_Create(&natsMessage, message.subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        try check("message \(message.subject)", status)
        for (key, value) in message.headers {
            try check("header \(key)", natsMsgHeader_Set(natsMessage, key, value))
        }
        return natsMessage
    }

    /// Binds to the durable pull consumer of `configuration`, creating or updating it.
    public func pullSubscribe(stream: String, _ configuration: ConsumerConfiguration) async throws -> PullSubscription {
        let subscription = try await blocking { [self] in
            try stream.withCString { stream in
                try configuration.durable.withCString { durable in
                    try configuration.subject.withCString { subject in
                        var options = jsSubOptions()
                        jsSubOptions_Init(&options)
                        options.Stream = stream
                        options.Config.Durable = durable
                        options.Config.FilterSubject = subject
                        options.Config.AckPolicy = js_AckExplicit
                        options.Config.DeliverPolicy = js_DeliverAll
                        options.Config.AckWait = Int64(configuration.ackWaitSeconds * 1_000_000_000)
                        options.Config.MaxDeliver = Int64(configuration.maxDeliver)
                        options.Config.MaxAckPending = Int64(configuration.maxAckPending)
                        var subscription: OpaquePointer?
                        var errorCode = jsErrCode(rawValue: 0)
                        try check(
                            "subscribe \(configuration.durable)",
                            js_PullSubscribe(&subscription, context, subject, durable, nil, &options, &errorCode),
                            errorCode
                        )
                        return SubscriptionHandle(subscription!, connection: self)
                    }
                }
            }
        }
        return PullSubscription(handle: subscription, connection: self, configuration: configuration)
    }

    /// Runs a blocking libnats call on this connection's own threads.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Flushes what is buffered, closes the connection and stops the threads. Safe to call more than once.
    /// The C objects are freed later, in `deinit`.
    public func close() async {
        let alreadyClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !alreadyClosed else { return }
        _ = try? await blocking { [self] in
            _ = natsConnection_FlushTimeout(connection, 1_000)
            natsConnection_Close(connection)
        }
        try? await pool.shutdownGracefully()
    }

    /// The C objects are freed only when nothing refers to them any more: subscriptions and the messages fetched
    /// through them keep this object alive, so no message or subscription outlives the connection it points into.
    deinit {
        jsCtx_Destroy(asyncContext)
        jsCtx_Destroy(context)
        natsConnection_Destroy(connection)
    }
}

/// Remembers the first refusal of the batch in flight, reported on libnats's callback threads.
final class PublishTracker: Sendable {
    private let failure = Mutex<String?>(nil)

    func reset() {
        failure.withLock { $0 = nil }
    }

    func settle(_ error: String?) {
        guard let error else { return }
        failure.withLock { if $0 == nil { $0 = error } }
    }

    var firstFailure: String? { failure.withLock { $0 } }
}
