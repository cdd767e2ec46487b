import AsyncHTTPClient
import Foundation
import JetStream
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Load generator for the running stack (benchmarks/load/run starts it). Every figure is printed next to a
/// baseline measured in the same run, a trivial Vapor route through the same nginx: GET /api/users/currentuser
/// without a cookie, which touches no database.
@main
struct BenchLoad {
    static func main() async throws {
        var arguments = CommandLine.arguments
        let mode = arguments.count > 1 && ["lifecycle", "search"].contains(arguments[1]) ? arguments.remove(at: 1) : "load"
        let lifecycle = mode == "lifecycle"
        guard arguments.count >= (lifecycle ? 6 : 3) else {
            report("usage: bench-load FRONT_URL NATS_URL [SECONDS] [CONCURRENCY]")
            report("       bench-load lifecycle FRONT_URL NATS_URL STRIPE_URL EXPIRIES [SECONDS] [CONCURRENCY]")
            report("       bench-load search FRONT_URL DEEP_TICKET_ID [SECONDS] [CONCURRENCY]")
            exit(2)
        }
        let front = arguments[1]
        let nats = arguments[2]
        let options = Array(arguments.dropFirst(lifecycle ? 5 : 3))
        let seconds = options.count > 0 ? Double(options[0])! : 5
        let concurrency = options.count > 1 ? Int(options[1])! : 32
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            if mode == "search" {
                try await Search.run(client: client, front: front, seconds: seconds, concurrency: concurrency, deep: arguments[2])
            } else if lifecycle {
                try await Lifecycle.run(client: client, front: front, nats: nats, stripe: arguments[3], expiries: Int(arguments[4])!,
                                        seconds: seconds, concurrency: concurrency)
            } else {
                try await run(client: client, front: front, nats: nats, seconds: seconds, concurrency: concurrency)
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static func run(client: HTTPClient, front: String, nats: String, seconds: Double, concurrency: Int) async throws {
        report(Memory.line("after start-up"))
        let http = HTTP(client: client, front: front)
        let baseline = try await phase("GET /api/users/currentuser (baseline)") {
            try await Load.run(seconds: seconds, concurrency: concurrency) { _ in
                try await http.send(.GET, "/api/users/currentuser", expect: 200)
            }
        }
        let seller = try await http.signUp()
        let buyer = try await http.signUp()

        // Tickets to reserve: one per order of the order phases, created through the API.
        // Open-loop phases offer these fractions of the closed-loop rate, so they mean the same on a faster machine.
        let pacedShares = [0.5, 0.8]
        let closedLoopCeiling = 1_500.0
        let ordersWanted = Int(seconds * closedLoopCeiling * (1 + pacedShares.reduce(0, +))) + 1_200
        let seeding = try await Load.run(requests: ordersWanted, concurrency: concurrency) { _ in
            try await http.send(.POST, "/api/tickets", cookie: seller, body: #"{"title":"Seat","price":25}"#, expect: 201)
        }
        report(seeding.line("POST /api/tickets (seeding)") + baseline.ratio(seeding))
        let tickets = Tickets(ids: seeding.bodies.compactMap { Self.id(in: $0) })
        // The orders service learns of tickets from events; once the last one can be reserved, all can.
        let last = tickets.take()!
        try await Self.waitUntil(timeout: 60) { (try? await http.send(.POST, "/api/orders", cookie: buyer, body: order(last), expect: 201)) != nil }

        try await phase("GET /api/tickets?limit=20", against: baseline) {
            try await Load.run(seconds: seconds, concurrency: concurrency) { _ in
                try await http.send(.GET, "/api/tickets?limit=20", expect: 200)
            }
        }

        let reserve: @Sendable (Int) async throws -> HTTP.Reply = { _ in
            guard let ticket = tickets.take() else { throw Exhausted() }
            return try await http.send(.POST, "/api/orders", cookie: buyer, body: order(ticket), expect: 201)
        }
        // The events a reservation sets off are still being applied when the last response returns: let them settle.
        let closed = try await phase("POST /api/orders", against: baseline, settle: 2) {
            try await Load.run(seconds: seconds, concurrency: concurrency, reserve)
        }
        // Open loop: requests leave on a fixed schedule whatever the answers do, and each is timed from when it was due,
        // so a stack that falls behind shows it in the latencies instead of quietly receiving fewer requests.
        for share in pacedShares {
            let rate = min(closed.rate, closedLoopCeiling) * share
            try await phase(String(format: "POST /api/orders at %.0f/s (%.1fx closed)", rate, share), against: baseline, settle: 2) {
                try await Load.paced(rate: rate, seconds: seconds, reserve)
            }
        }

        try await propagation(http: http, buyer: buyer, tickets: tickets, nats: nats, rate: 100, count: 1_000)
        // What a service keeps once the load is over is what it holds between bursts.
        try await Task.sleep(for: .seconds(5))
        report(Memory.line("idle 5 s after the load"))
    }

    /// Runs one phase and prints its line (with its ratio to `baseline`), then the CPU each process of the stack spent
    /// per request in it, read `settle` seconds after the last answer so that the work the phase set off counts too.
    @discardableResult
    static func phase(_ name: String, against baseline: Load? = nil, settle: Double = 0, _ run: () async throws -> Load) async throws -> Load {
        let cpu = CPUUsage.now()
        let load = try await run()
        report(load.line(name) + (baseline.map { $0.ratio(load) } ?? ""))
        if settle > 0 { try await Task.sleep(for: .seconds(settle)) }
        report(CPUUsage.now().line(since: cpu, requests: load.latencies.count))
        return load
    }

    static func order(_ ticket: String) -> String { #"{"ticketId":"\#(ticket)"}"# }

    static func id(in body: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["id"] as? String
    }

    /// Paced orders; for each, the time from its 201 to the tickets service announcing the reservation
    /// (`ticket:updated` with the order's id, published from the same transaction that reserves the ticket).
    static func propagation(http: HTTP, buyer: String, tickets: Tickets, nats: String, rate: Double, count: Int) async throws {
        let connection = try await JetStreamConnection.connect(urls: nats, name: "bench-load", logger: Logger(label: "bench"))
        let subscription = try await connection.pullSubscribe(
            stream: "TICKETING",
            ConsumerConfiguration(durable: "bench-propagation-\(UInt32.random(in: 0...UInt32.max))", subject: "ticket:updated",
                                  maxAckPending: 100_000)
        )
        // Either side may come first: the announcement can beat the client reading its own 201.
        let returned = Locked<[String: ContinuousClock.Instant]>([:])
        let announced = Locked<[String: ContinuousClock.Instant]>([:])
        let delays = Locked<[Double]>([])
        let match = { @Sendable (orderId: String, returnedAt: ContinuousClock.Instant, announcedAt: ContinuousClock.Instant) in
            delays.withLock { $0.append(max(0, (announcedAt - returnedAt) / .milliseconds(1))) }
        }
        let watcher = Task {
            while !Task.isCancelled {
                for message in (try? await subscription.fetch(batch: 256, timeout: 0.2)) ?? [] {
                    let seen = ContinuousClock.now
                    try? message.ack()
                    guard let event = try? JSONSerialization.jsonObject(with: message.data) as? [String: Any],
                          let orderId = event["orderId"] as? String
                    else { continue }
                    if let returnedAt = returned.withLock({ $0.removeValue(forKey: orderId) }) {
                        match(orderId, returnedAt, seen)
                    } else {
                        announced.withLock { $0[orderId] = seen }
                    }
                }
            }
        }
        // Older ticket:updated events are skipped before the paced orders start.
        try await Task.sleep(for: .seconds(1))
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                try await Task.sleep(until: start + .milliseconds(Int(Double(index) * 1_000 / rate)), clock: .continuous)
                guard let ticket = tickets.take() else { break }
                group.addTask {
                    let body = try await http.send(.POST, "/api/orders", cookie: buyer, body: order(ticket), expect: 201).body
                    let returnedAt = ContinuousClock.now
                    guard let orderId = id(in: body) else { return }
                    if let announcedAt = announced.withLock({ $0.removeValue(forKey: orderId) }) {
                        match(orderId, returnedAt, announcedAt)
                    } else {
                        returned.withLock { $0[orderId] = returnedAt }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await waitUntil(timeout: 10) { delays.withLock { $0.count } >= count }
        watcher.cancel()
        await connection.close()
        let sorted = delays.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { report("propagation: nothing arrived"); return }
        report(String(format: "propagation at %.0f orders/s: %d orders, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                     rate, sorted.count, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last!))
    }

    static func waitUntil(timeout: Double, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1_000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TimedOut()
    }

    struct TimedOut: Error {}
    struct Exhausted: Error {}
}
