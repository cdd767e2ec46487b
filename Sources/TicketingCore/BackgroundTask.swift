import Synchronization
import Vapor

/// Work a service does on its own for as long as it runs (a scheduler, a reconciler): started when the application
/// boots, cancelled and awaited when it shuts down.
public final class BackgroundTask: LifecycleHandler, Sendable {
    private let body: @Sendable () async -> Void
    private let task = Mutex<Task<Void, Never>?>(nil)

    public init(_ body: @escaping @Sendable () async -> Void) {
        self.body = body
    }

    public func didBootAsync(_ application: Application) async throws {
        let body = body
        task.withLock { $0 = Task { await body() } }
    }

    public func shutdownAsync(_ application: Application) async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }
}

/// Runs `round` now and then every `interval` seconds until the task is cancelled. A round that fails is logged as
/// `failure` and the next one tries again.
public func repeatEvery(_ interval: Double, logger: Logger, failure: Logger.Message, _ round: () async throws -> Void) async {
    while !Task.isCancelled {
        do {
            try await round()
        } catch {
            logger.warning(failure, metadata: ["error": "\(error)"])
        }
        try? await Task.sleep(for: .milliseconds(Int(interval * 1_000)))
    }
}
