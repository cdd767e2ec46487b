import Logging

/// Waits longer after each consecutive failure (0.2 s doubling to 5 s) and logs the first and every 20th.
public struct Backoff {
    let logger: Logger
    let waiting: Logger.Message
    var metadata: Logger.Metadata = [:]
    private var failures = 0

    public init(logger: Logger, waiting: Logger.Message, metadata: Logger.Metadata = [:]) {
        self.logger = logger
        self.waiting = waiting
        self.metadata = metadata
    }

    public mutating func succeeded() {
        failures = 0
    }

    public mutating func failed(_ error: any Error) async {
        failures += 1
        if failures == 1 || failures.isMultiple(of: 20) {
            logger.warning(waiting, metadata: metadata.merging(["error": "\(error)", "attempts": "\(failures)"]) { $1 })
        }
        try? await Task.sleep(for: .milliseconds(min(5_000, 100 * (1 << min(failures, 6)))))
    }
}
