import AsyncHTTPClient
import Foundation
import JetStream
import Logging
import NIOCore
import NIOHTTP1

/// The end of an order's life, measured on a stack of auth, expiration and payments (benchmarks/lifecycle/run):
/// how late `expiration:complete` arrives for many orders due at the same instant, and how fast orders are paid
/// against the Stripe emulator. Orders are announced as `order:created` events straight to the broker, as the
/// orders service would, so no other service's work is in the figures.
enum Lifecycle {
    static func run(client: HTTPClient, front: String, nats: String, stripe: String, expiries: Int, seconds: Double, concurrency: Int) async throws {
        let http = HTTP(client: client, front: front)
        let connection = try await JetStreamConnection.connect(urls: nats, name: "bench-lifecycle", logger: Logger(label: "bench"))
        try await expiration(connection: connection, count: expiries)
        try await payments(http: http, client: client, connection: connection, stripe: stripe, seconds: seconds, concurrency: concurrency)
        await connection.close()
    }

    static func orderCreated(_ id: String, userId: String, expiresAt: Date, cents: Int = 2_500) -> OutgoingMessage {
        let expires = expiresAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
        let json = #"{"expiresAt":"\#(expires)","id":"\#(id)","status":"created","ticket":{"id":"\#(UUID().uuidString.lowercased())","price":\#(Double(cents) / 100)},"userId":"\#(userId)","version":0}"#
        return OutgoingMessage(subject: "order:created", id: UUID().uuidString, data: Data(json.utf8))
    }

    static func publish(_ connection: JetStreamConnection, _ messages: [OutgoingMessage]) async throws {
        for first in stride(from: 0, to: messages.count, by: 256) {
            try await connection.publish(Array(messages[first..<min(first + 256, messages.count)]))
        }
    }

    /// `count` orders all due at one instant; for each, the delay from that instant to its `expiration:complete`
    /// reaching a subscriber. Baseline: the broker alone moving as many events from a publisher to a subscriber.
    static func expiration(connection: JetStreamConnection, count: Int) async throws {
        try await connection.ensureStream(StreamConfiguration(name: "BENCH_LIFECYCLE", subjects: ["bench.lifecycle"]))
        let drain = try await connection.pullSubscribe(
            stream: "BENCH_LIFECYCLE", ConsumerConfiguration(durable: "bench-drain", subject: "bench.lifecycle", maxAckPending: 1_000_000)
        )
        let payload = Data(#"{"orderId":"00000000-0000-0000-0000-000000000000"}"#.utf8)
        let baselineStart = ContinuousClock.now
        try await publish(connection, (0..<count).map { _ in OutgoingMessage(subject: "bench.lifecycle", id: UUID().uuidString, data: payload) })
        var drained = 0
        while drained < count {
            let batch = try await drain.fetch(batch: 256, timeout: 5)
            for message in batch { try message.ack() }
            drained += batch.count
        }
        let baseline = (ContinuousClock.now - baselineStart) / .milliseconds(1)

        let observer = try await connection.pullSubscribe(stream: "TICKETING", ConsumerConfiguration(
            durable: "bench-expiry-\(UInt32.random(in: 0...UInt32.max))", subject: "expiration:complete", maxAckPending: 1_000_000
        ))
        // Far enough ahead for the expiration service to take in every order before they fall due.
        let due = Date().addingTimeInterval(Double(count) / 1_000 + 10)
        let ids = Set((0..<count).map { _ in UUID().uuidString.lowercased() })
        try await publish(connection, ids.map { orderCreated($0, userId: "bench", expiresAt: due) })
        report("expiration: \(count) orders due at one instant, published; waiting \(Int(due.timeIntervalSinceNow)) s")
        var lateness: [Double] = []
        var early = 0
        let giveUp = due.addingTimeInterval(60)
        while lateness.count < count, Date() < giveUp {
            for message in try await observer.fetch(batch: 256, timeout: 1) {
                let seen = Date()
                try message.ack()
                guard let event = try? JSONSerialization.jsonObject(with: message.data) as? [String: String],
                      let orderId = event["orderId"], ids.contains(orderId) else { continue }
                if seen < due { early += 1 }
                lateness.append(seen.timeIntervalSince(due) * 1_000)
            }
        }
        lateness.sort()
        guard !lateness.isEmpty else { report("expiration: nothing fired"); return }
        report(String(format: "expiration lateness: %d of %d fired, %d early; p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                      lateness.count, count, early, percentile(lateness, 0.5), percentile(lateness, 0.99), lateness.last!))
        report(String(format: "  baseline, the broker alone moving %d events publisher to subscriber: %.0f ms (max lateness / baseline: %.2fx)",
                      count, baseline, lateness.last! / baseline))
    }

    /// Closed-loop payments of fresh orders with Stripe's test card, through nginx; baseline: the same number
    /// of connections charging the emulator directly the way the service does (create, then confirm, an intent).
    static func payments(http: HTTP, client: HTTPClient, connection: JetStreamConnection, stripe: String, seconds: Double, concurrency: Int) async throws {
        let buyer = try await http.signUp()
        let me = try await http.send(.GET, "/api/users/currentuser", cookie: buyer, expect: 200).body
        guard let userId = ((try? JSONSerialization.jsonObject(with: Data(me.utf8)) as? [String: Any])?["currentUser"] as? [String: Any])?["id"] as? String
        else { throw HTTP.Unexpected(description: "no current user") }

        // The emulator slows as its store grows, so its baseline is measured before and after the payments.
        let emulator = { @Sendable in
            try await Load.run(seconds: seconds, concurrency: concurrency) { _ in
                let intent = try await stripeCall(client, stripe + "/v1/payment_intents", form: "amount=2500&currency=usd&payment_method=pm_card_visa")
                guard let id = BenchLoad.id(in: intent.body) else { throw HTTP.Unexpected(description: "no intent id") }
                return try await stripeCall(client, stripe + "/v1/payment_intents/\(id)/confirm", form: "")
            }
        }
        let baseline = try await emulator()
        report(baseline.line("Stripe emulator create+confirm (baseline)"))

        let ids = (0..<Int(baseline.rate * seconds * 3) + 200).map { _ in UUID().uuidString.lowercased() }
        try await publish(connection, ids.map { orderCreated($0, userId: userId, expiresAt: Date().addingTimeInterval(3_600)) })
        let orders = Tickets(ids: ids)
        // The payments service learns of orders from events; once it knows the last one, it knows them all.
        let last = ids.last!
        try await BenchLoad.waitUntil(timeout: 60) {
            (try? await http.send(.POST, "/api/payments", cookie: buyer, body: payment(last), expect: 201)) != nil
        }
        _ = orders.takeLast()
        let paying = try await Load.run(seconds: seconds, concurrency: concurrency) { _ in
            guard let order = orders.take() else { throw BenchLoad.Exhausted() }
            return try await http.send(.POST, "/api/payments", cookie: buyer, body: payment(order), expect: 201)
        }
        report(paying.line("POST /api/payments") + baseline.ratio(paying))
        let after = try await emulator()
        report(after.line("Stripe emulator create+confirm, again") + after.ratio(paying))
    }

    static func payment(_ orderId: String) -> String { #"{"token":"pm_card_visa","orderId":"\#(orderId)"}"# }

    static func stripeCall(_ client: HTTPClient, _ url: String, form: String) async throws -> HTTP.Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer sk_test_local")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form))
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw HTTP.Unexpected(description: "Stripe \(response.status.code): \(text.prefix(200))") }
        return HTTP.Reply(status: 200, body: text, setCookie: nil)
    }
}
