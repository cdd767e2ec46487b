import Foundation
import JetStream
import Logging
import Synchronization
import ServiceLifecycle
import TicketingCore

/// The event-bus benchmark: the C baseline's steps through the Swift wrapper, then the whole outbox path
/// (SQLite outbox → relay → JetStream → listener with inbox). Run by benchmarks/events/run, which starts the
/// broker and prints ratios; each line here is `name value unit`.
@main
struct BenchEvents {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 6 else {
            print("usage: bench-events URL SYNC_N BATCH_N LATENCY_N OUTBOX_N")
            exit(2)
        }
        let url = arguments[1]
        let (syncN, batchN, latencyN, outboxN) = (Int(arguments[2])!, Int(arguments[3])!, Int(arguments[4])!, Int(arguments[5])!)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        try await wrapper(url: url, syncN: syncN, batchN: batchN, latencyN: latencyN, logger: logger)
        try await outbox(url: url, count: outboxN, logger: logger)
    }

    static let payload = Data(repeating: UInt8(ascii: "x"), count: 170)

    static func rate(_ name: String, _ count: Int, since start: ContinuousClock.Instant) {
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        print("\(name) \(Int((Double(count) / seconds).rounded())) msg/s")
    }

    static func wrapper(url: String, syncN: Int, batchN: Int, latencyN: Int, logger: Logger) async throws {
        let connection = try await JetStreamConnection.connect(urls: url, name: "bench", logger: logger)
        try await connection.ensureStream(StreamConfiguration(name: "BENCH_SWIFT", subjects: ["bench.swift"]))
        func message(_ id: String) -> OutgoingMessage {
            OutgoingMessage(subject: "bench.swift", id: id, data: payload)
        }

        var start = ContinuousClock.now
        for index in 0..<syncN { try await connection.publish(message("sync-\(index)")) }
        rate("publish_sync", syncN, since: start)

        start = .now
        for first in stride(from: 0, to: batchN, by: 256) {
            try await connection.publish((first..<min(first + 256, batchN)).map { message("batch-\($0)") })
        }
        rate("publish_batch", batchN, since: start)

        let subscription = try await connection.pullSubscribe(
            stream: "BENCH_SWIFT", ConsumerConfiguration(durable: "bench-swift", subject: "bench.swift", maxAckPending: 100_000)
        )
        start = .now
        var received = 0
        while received < syncN + batchN {
            let batch = try await subscription.fetch(batch: 256, timeout: 5)
            for message in batch { try message.ack() }
            received += batch.count
        }
        rate("consume", received, since: start)

        var samples: [Double] = []
        for index in 0..<latencyN {
            let sent = ContinuousClock.now
            try await connection.publish(message("lat-\(index)"))
            let batch = try await subscription.fetch(batch: 1, timeout: 5)
            samples.append((ContinuousClock.now - sent) / .milliseconds(1))
            for message in batch { try message.ack() }
        }
        samples.sort()
        print(String(format: "latency_p50 %.3f ms", samples[samples.count / 2]))
        print(String(format: "latency_p99 %.3f ms", samples[Int(Double(samples.count) * 0.99)]))
        await connection.close()
    }

    /// Counts what the listener applied, and when the last one arrived.
    final class Arrivals: Sendable {
        let count = Mutex(0)
    }

    struct CountingListener: Listener {
        let queueGroup = "bench-service"
        let arrivals: Arrivals

        func onMessage(_ event: ExpirationCompleteEvent, context: ListenerContext) async throws -> ListenerOutcome {
            arrivals.count.withLock { $0 += 1 }
            return .done
        }
    }

    /// The outbox path on a SQLite file: a backlog drained by the relay, then writers committing events while
    /// the relay and the listener run; both counted where the listener applies them (inbox row committed).
    static func outbox(url: String, count: Int, logger: Logger) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-events-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = TicketingConfig(
            service: "bench", dataDirectory: directory.path, jwtKey: String(repeating: "k", count: 32),
            databaseURL: "sqlite://\(directory.path)/bench.sqlite", natsURL: url
        )
        config.bcryptCost = 4
        var environment = Environment(name: "production", arguments: ["bench"])
        environment.arguments = ["bench"]
        let app = try await Application.make(environment)
        app.logger.logLevel = .error
        let arrivals = Arrivals()
        do {
            let service = ServiceDefinition(
                name: "bench", defaultPort: 0, routes: [], publishes: [.expirationComplete], consumes: [.expirationComplete],
                migrations: []
            ) { _ in ServiceParts(listeners: [CountingListener(arrivals: arrivals)]) }
            let work = try await app.wire(service, config, migrate: true)
            let unit = try await requireEvents(app).unitOfWork

            // Backlog: rows written before the relay starts, as after a broker outage.
            try await unit.run(on: app.db) { tx in
                for index in 0..<count { try await tx.record(ExpirationCompleteEvent(orderId: "backlog-\(index)")) }
            }
            var start = ContinuousClock.now
            let group = ServiceGroup(services: work, logger: app.logger)
            let running = Task { try await group.run() }
            while arrivals.count.withLock({ $0 }) < count { try await Task.sleep(for: .milliseconds(2)) }
            rate("outbox_backlog", count, since: start)

            // Live: 8 writers, each committing one event per transaction, as request handlers do.
            start = .now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for index in 0..<(count / 8) {
                            try await unit.run(on: app.db) { tx in
                                try await tx.record(ExpirationCompleteEvent(orderId: "live-\(writer)-\(index)"))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            rate("outbox_writes", count / 8 * 8, since: start)
            while arrivals.count.withLock({ $0 }) < count + count / 8 * 8 { try await Task.sleep(for: .milliseconds(2)) }
            rate("outbox_live", count / 8 * 8, since: start)
            await group.triggerGracefulShutdown()
            try await running.value
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }

    struct NoEvents: Error {}

    static func requireEvents(_ app: Application) async throws -> ServiceEvents {
        guard let events = app.events else { throw NoEvents() }
        return events
    }
}
