import Foundation

/// The local Stripe emulator (localstripe, from the project's virtual environment, which `scripts/setup` creates)
/// on a free loopback port, its state in memory: the real Stripe wire protocol for a test.
public final class StripeEmulator: @unchecked Sendable {
    // Touched only from the test that owns it.
    public let port: Int
    private let process = TestProcess()

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        port = try freePort()
    }

    public func start() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try process.start(
            root.appendingPathComponent(".venv/bin/python"),
            [root.appendingPathComponent("scripts/lib/localstripe_loopback.py").path, "--port", "\(port)"],
            listeningOn: port, timeout: 30
        )
    }

    public func stop() {
        process.stop()
    }
}
