import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Written at once, even into a pipe, so a run that fails still shows what it measured.
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

/// Ticket ids handed out once each.
final class Tickets: Sendable {
    private let ids: Mutex<[String]>
    init(ids: [String]) { self.ids = Mutex(ids.reversed()) }
    func take() -> String? { ids.withLock { $0.popLast() } }
    /// The id `take` would hand out last.
    func takeLast() -> String? { ids.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}

struct HTTP: Sendable {
    let client: HTTPClient
    let front: String

    struct Reply: Sendable {
        var status: Int
        var body: String
        var setCookie: String?
    }

    struct Unexpected: Error, CustomStringConvertible {
        var description: String
    }

    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, cookie: String? = nil, body: String? = nil, expect: Int) async throws -> Reply {
        var request = HTTPClientRequest(url: front + path)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
        guard Int(response.status.code) == expect else {
            throw Unexpected(description: "\(method) \(path): \(response.status.code) \(text.prefix(200))")
        }
        return Reply(status: Int(response.status.code), body: text, setCookie: response.headers.first(name: "Set-Cookie"))
    }

    func signUp() async throws -> String {
        let email = "load-\(UUID().uuidString.prefix(8))@example.com"
        let reply = try await send(.POST, "/api/users/signup", body: #"{"email":"\#(email)","password":"secret"}"#, expect: 201)
        guard let cookie = reply.setCookie?.split(separator: ";").first else { throw Unexpected(description: "no cookie") }
        return String(cookie)
    }
}

/// A closed-loop load: `concurrency` workers each send a request as soon as their previous one is answered.
struct Load {
    var latencies: [Double]
    var failures: Int
    var elapsed: Double
    var bodies: [String]

    var rate: Double { Double(latencies.count) / elapsed }

    static func run(
        seconds: Double? = nil, requests: Int? = nil, concurrency: Int, _ send: @escaping @Sendable (Int) async throws -> HTTP.Reply
    ) async throws -> Load {
        let counter = Locked(0)
        let start = ContinuousClock.now
        let deadline = seconds.map { start + .milliseconds(Int($0 * 1_000)) }
        let results = try await withThrowingTaskGroup(of: ([Double], Int, [String]).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies: [Double] = []
                    var failures = 0
                    var bodies: [String] = []
                    while true {
                        if let deadline, ContinuousClock.now >= deadline { break }
                        let index = counter.withLock { value -> Int in
                            defer { value += 1 }
                            return value
                        }
                        if let requests, index >= requests { break }
                        let sent = ContinuousClock.now
                        do {
                            let reply = try await send(index)
                            latencies.append((ContinuousClock.now - sent) / .milliseconds(1))
                            if requests != nil { bodies.append(reply.body) }
                        } catch is BenchLoad.Exhausted {
                            break
                        } catch {
                            failures += 1
                            if failures == 1 { report("failure: \(error)") }
                        }
                    }
                    return (latencies, failures, bodies)
                }
            }
            return try await group.reduce(into: ([Double](), 0, [String]())) { total, part in
                total.0 += part.0
                total.1 += part.1
                total.2 += part.2
            }
        }
        return Load(latencies: results.0.sorted(), failures: results.1, elapsed: (ContinuousClock.now - start) / .seconds(1),
                    bodies: results.2)
    }

    /// `rate` requests a second for `seconds`, each sent when due and timed from then.
    static func paced(rate: Double, seconds: Double, _ send: @escaping @Sendable (Int) async throws -> HTTP.Reply) async throws -> Load {
        let results = Locked<(latencies: [Double], failures: Int)>(([], 0))
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<Int(rate * seconds) {
                let due = start + .microseconds(Int64(Double(index) * 1_000_000 / rate))
                try? await Task.sleep(until: due, clock: .continuous)
                group.addTask {
                    do {
                        _ = try await send(index)
                        let latency = (ContinuousClock.now - due) / .milliseconds(1)
                        results.withLock { $0.latencies.append(latency) }
                    } catch {
                        let first = results.withLock { results -> Bool in
                            results.failures += 1
                            return results.failures == 1
                        }
                        if first { report("failure: \(error)") }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        return results.withLock { Load(latencies: $0.latencies.sorted(), failures: $0.failures, elapsed: elapsed, bodies: []) }
    }

    func line(_ name: String) -> String {
        guard !latencies.isEmpty else { return "\(name): no successful requests, \(failures) failures" }
        return name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  failures %d",
                      rate, percentile(latencies, 0.5), percentile(latencies, 0.99), failures)
    }

    /// This load's throughput and p99 relative to the baseline's.
    func ratio(_ other: Load) -> String {
        guard !other.latencies.isEmpty, !latencies.isEmpty else { return "" }
        return String(format: "  (vs baseline: %.2fx req/s, %.2fx p99)", other.rate / rate,
                      percentile(other.latencies, 0.99) / percentile(latencies, 0.99))
    }
}
