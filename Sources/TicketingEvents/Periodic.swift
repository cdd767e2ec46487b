import Logging

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
