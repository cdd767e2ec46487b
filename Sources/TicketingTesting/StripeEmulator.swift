import Foundation

/// The local Stripe emulator (localstripe, from the project's virtual environment, which `scripts/setup` creates)
/// on a free loopback port, its state in memory: the real Stripe wire protocol for a test.
public final class StripeEmulator: @unchecked Sendable {
    // Touched only from the test that owns it.
    public let port: Int
    private var process: Process?

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        port = try freePort()
    }

    public func start() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = root.appendingPathComponent(".venv/bin/python")
        process.arguments = [root.appendingPathComponent("scripts/lib/localstripe_loopback.py").path, "--port", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try waitUntilListening(port: port, timeout: 30)
    }

    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        stop()
    }
}
