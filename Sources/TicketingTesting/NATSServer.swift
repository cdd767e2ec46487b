import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nats-server with JetStream for a test: its own free loopback port and a temporary store.
/// `stop()` and `start()` again keep the store, as a broker restart does.
public final class NATSServer: @unchecked Sendable {
    // Touched only from the test that owns it.
    public let port: Int
    public let storeDirectory: URL
    private let process = TestProcess()

    public var url: String { "nats://127.0.0.1:\(port)" }

    public init() throws {
        port = try freePort()
        storeDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("nats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: storeDirectory, withIntermediateDirectories: true)
    }

    public func start() throws {
        // Found on PATH, as the scripts find it (Debian installs it in /usr/sbin).
        try process.start(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["nats-server", "-js", "-sd", storeDirectory.path, "-a", "127.0.0.1", "-p", "\(port)"],
            listeningOn: port, timeout: 10
        )
    }

    /// Stops the server the way a crash or a pod eviction would look to clients: the connection drops.
    public func stop() {
        process.stop()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: storeDirectory)
    }
}

/// A server process a test starts and stops; it is stopped when the owner is released.
final class TestProcess {
    private var process: Process?

    func start(_ executable: URL, _ arguments: [String], listeningOn port: Int, timeout: TimeInterval) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try waitUntilListening(port: port, timeout: timeout)
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        stop()
    }
}

/// A TCP port on loopback that nothing listens on right now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

private func waitUntilListening(port: Int, timeout: TimeInterval) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        close(fd)
        if connected { return }
        usleep(50_000)
    }
    throw POSIXError(.ETIMEDOUT)
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}
