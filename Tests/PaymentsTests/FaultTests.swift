import Foundation
@testable import Payments
import TicketingCore
import TicketingTesting
import XCTVapor

/// The Stripe emulator behind a switch: before each call, `before` gets the call's name (as in `StripeAPI`) and the
/// intent it is about, and may hold the call or fail it.
struct FaultyStripe: StripeAPI {
    let real: StripeClient
    let before: @Sendable (_ call: String, _ intentID: String?) async throws -> Void

    func createCustomer(source token: String, metadata: [String: String], idempotencyKey: String) async throws -> StripeClient.Customer {
        try await before("createCustomer", nil)
        return try await real.createCustomer(source: token, metadata: metadata, idempotencyKey: idempotencyKey)
    }

    func createPaymentIntent(
        cents: Int64, currency: String, paymentMethod: String, customer: String?, metadata: [String: String], idempotencyKey: String
    ) async throws -> StripeClient.PaymentIntent {
        try await before("createPaymentIntent", nil)
        return try await real.createPaymentIntent(
            cents: cents, currency: currency, paymentMethod: paymentMethod, customer: customer, metadata: metadata, idempotencyKey: idempotencyKey
        )
    }

    func confirm(_ intentID: String, idempotencyKey: String) async throws -> StripeClient.PaymentIntent {
        try await before("confirm", intentID)
        return try await real.confirm(intentID, idempotencyKey: idempotencyKey)
    }

    func cancel(_ intentID: String, idempotencyKey: String) async throws -> StripeClient.PaymentIntent {
        try await before("cancel", intentID)
        return try await real.cancel(intentID, idempotencyKey: idempotencyKey)
    }

    func refund(_ intentID: String, metadata: [String: String], idempotencyKey: String) async throws -> StripeClient.Refund {
        try await before("refund", intentID)
        return try await real.refund(intentID, metadata: metadata, idempotencyKey: idempotencyKey)
    }

    func paymentIntent(_ intentID: String) async throws -> StripeClient.PaymentIntent {
        try await before("paymentIntent", intentID)
        return try await real.paymentIntent(intentID)
    }
}

/// Holds the first call of one kind until the test opens it.
actor Gate {
    let call: String
    private var held = false
    private var opened = false

    init(holding call: String) {
        self.call = call
    }

    var isHolding: Bool { held && !opened }

    func pass(_ call: String) async throws {
        guard call == self.call, !held else { return }
        held = true
        while !opened { try await Task.sleep(for: .milliseconds(10)) }
    }

    func open() {
        opened = true
    }
}

struct StripeDown: Error {}

final class PaymentFaultTests: PaymentTestCase {
    func checkout(_ app: Application, lease: TimeInterval = 60, before: @escaping @Sendable (String, String?) async throws -> Void) -> Checkout {
        let stripe = FaultyStripe(real: stripeClient(app), before: before)
        var checkout = Checkout(stripe: stripe, unitOfWork: app.unitOfWork, logger: app.logger)
        checkout.lease = lease
        return checkout
    }

    /// What Stripe holds for this test's amount: its PaymentIntents' statuses, sorted.
    func intents(_ app: Application, cents: Int64) async throws -> [String] {
        let list = try await stripeCall(app, .GET, "/v1/payment_intents?limit=100")
        return (list["data"] as? [[String: Any]] ?? [])
            .filter { ($0["amount"] as? Int).map(Int64.init) == cents }.compactMap { $0["status"] as? String }.sorted()
    }

    /// Starts a payment that `gate` holds inside Stripe, and returns it once its one-second lease has ended.
    func stalledPayment(
        _ checkout: Checkout, _ gate: Gate, _ orderId: String, by buyer: TestClient, on app: Application
    ) async throws -> Task<String, any Error> {
        let stalled = Task { try await checkout.pay(orderId: orderId, token: "pm_card_visa", userId: buyer.userId, on: app.db) }
        try await eventually { await gate.isHolding }
        try await Task.sleep(for: .milliseconds(1_100))
        return stalled
    }

    func assertPaidElsewhere(_ result: Result<String, any Error>, file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let error as AppError) = result else {
            return XCTFail("the stalled request was answered \(result)", file: file, line: line)
        }
        XCTAssertEqual(error.errors, [ErrorItem(message: "Order has already been paid")], file: file, line: line)
    }

    /// A request stalls inside Stripe while creating its intent, past its lease. Another request takes the attempt
    /// over and pays. The stalled one used to record its intent anyway (nothing checked its lease) and confirm it: a
    /// second charge, never recorded, never refunded.
    func testAnAttemptThatOutlivedItsLeaseBeforeRecordingItsIntentChargesNothing() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 1_717)
            let gate = Gate(holding: "createPaymentIntent")
            let checkout = checkout(app, lease: 1) { call, _ in try await gate.pass(call) }

            let stalled = try await stalledPayment(checkout, gate, orderId, by: buyer, on: app)
            let paid = try await checkout.pay(orderId: orderId, token: "pm_card_visa", userId: buyer.userId, on: app.db)
            await gate.open()
            assertPaidElsewhere(await stalled.result)

            try await assertEqual(try await charges(app, cents: 1_717).count, 1, "charged once")
            try await assertEqual(try await intents(app, cents: 1_717), ["canceled", "succeeded"], "the stalled intent is cancelled")
            try await eventually { bus.events(PaymentCreatedEvent.self).map(\.id) == [paid] }
        }
    }

    /// A request stalls while confirming, past its lease: whoever takes over cancels the intent before charging
    /// anew, and the stalled request, once Stripe answers it, hears that the order is paid rather than declined.
    func testAConfirmationThatOutlivedItsLeaseIsCancelledAndTheOrderIsPaidOnce() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 1_818)
            let gate = Gate(holding: "confirm")
            let checkout = checkout(app, lease: 1) { call, _ in try await gate.pass(call) }

            let stalled = try await stalledPayment(checkout, gate, orderId, by: buyer, on: app)
            _ = try await checkout.pay(orderId: orderId, token: "pm_card_visa", userId: buyer.userId, on: app.db)
            await gate.open()
            assertPaidElsewhere(await stalled.result)

            try await assertEqual(try await charges(app, cents: 1_818).count, 1, "charged once")
            try await assertEqual(try await intents(app, cents: 1_818), ["canceled", "succeeded"])
            try await eventually { bus.events(PaymentCreatedEvent.self).count == 1 }
        }
    }

    /// A request stalls while creating its intent; the reconciler takes the attempt over, finds no intent and ends it.
    /// The stalled request used to go round and start a new attempt of its own, charging the card after all; it now
    /// charges nothing more and tells the buyer to try again.
    func testARequestThatLostItsLeaseChargesNothingMore() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 2_323)
            let gate = Gate(holding: "createPaymentIntent")
            let checkout = checkout(app, lease: 1) { call, _ in try await gate.pass(call) }

            let stalled = try await stalledPayment(checkout, gate, orderId, by: buyer, on: app)
            // This reconciler, or the service's own if its five-second round comes first.
            _ = try await Reconciler(checkout: checkout, database: { app.db }).reconcileOnce()
            try await eventually { try await ChargeAttempt.find(orderId, on: app.db)?.state == .failed }
            await gate.open()
            guard case .failure(let error as AppError) = await stalled.result else { return XCTFail("the stalled request charged") }
            XCTAssertEqual(error, .paymentNotCompleted)

            try await assertEqual(try await charges(app, cents: 2_323).count, 0, "nothing charged")
            try await assertEqual(try await intents(app, cents: 2_323), ["canceled"])
            let retry = try await pay(buyer, orderId)
            XCTAssertEqual(retry.status, .created, "the buyer's next try pays: \(retry.body.string)")
        }
    }

    /// However it came about, a second successful charge of an order is recorded for a refund, never kept.
    func testASecondSuccessfulChargeOfAnOrderIsRefunded() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 1_919)
            let paid = try await pay(buyer, orderId)
            XCTAssertEqual(paid.status, .created, paid.body.string)
            let extra = try await stripeCall(app, .POST, "/v1/payment_intents", form: [
                "amount": "1919", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true",
            ])
            let extraID = try XCTUnwrap(extra["id"] as? String)
            let now = Date().epochMilliseconds
            let attempt = try await ChargeAttempt.start(orderId, number: 2, until: now, on: app.db)
            let recorded = try await attempt.setIntent(extraID, on: app.db)
            XCTAssertTrue(recorded)
            let taken = try await ChargeAttempt.takeOver(orderId, now: now, until: now + 60_000, on: app.db)

            let checkout = checkout(app) { _, _ in }
            do {
                _ = try await checkout.settle(try XCTUnwrap(taken), on: app.db)
                XCTFail("a second charge is not a payment")
            } catch let error as AppError {
                XCTAssertEqual(error.errors, [ErrorItem(message: "Order has already been paid")])
            }
            try await assertEqual(try await Refunds.due(now: Date(), limit: 10, on: app.db).map(\.intentID), [extraID])
            let reconciler = Reconciler(checkout: checkout, database: { app.db })
            try await assertEqual(try await reconciler.refundDue(), 1)
            let refunded = try await charges(app, cents: 1_919).filter { $0["refunded"] as? Bool == true }.compactMap { $0["payment_intent"] as? String }
            XCTAssertEqual(refunded, [extraID], "the recorded payment is kept, the extra one given back")
            XCTAssertEqual(bus.events(PaymentCreatedEvent.self).count, 1)
        }
    }

    /// A refund Stripe keeps failing used to stop the reconciler's pass, so every refund after it waited forever.
    /// Now each is tried on its own; the failing one backs off and is parked after its tries, in the log and
    /// /metrics, while the next one is given back.
    func testARefundThatKeepsFailingHoldsUpNoOtherAndIsParked() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            var intents: [String] = []
            for cents: Int64 in [2_121, 2_222] {
                let intent = try await stripeCall(app, .POST, "/v1/payment_intents", form: [
                    "amount": "\(cents)", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true",
                ])
                let intentID = try XCTUnwrap(intent["id"] as? String)
                let orderId = try await order(app, bus, for: buyer, cents: cents)
                try await app.unitOfWork.run(on: app.db) { tx in try await Refunds.schedule(orderId: orderId, intentID: intentID, on: tx.db) }
                intents.append(intentID)
                try await Task.sleep(for: .milliseconds(5))  // scheduled one after the other: the failing one comes first
            }
            let failing = intents[0]
            let reconciler = Reconciler(checkout: checkout(app) { call, intentID in
                if call == "refund", intentID == failing { throw StripeDown() }
            }, database: { app.db })

            var now = Date()
            try await assertEqual(try await reconciler.refundDue(now: now), 1, "the other refund goes through")
            try await assertEqual(try await reconciler.refundDue(now: now), 0, "the failing one waits its backoff")
            for _ in 2...Refunds.maxAttempts {
                now = now.addingTimeInterval(3_601)
                try await assertEqual(try await reconciler.refundDue(now: now), 0)
            }
            now = now.addingTimeInterval(3_601)
            try await assertEqual(try await Refunds.due(now: now, limit: 10, on: app.db).count, 0, "parked after its tries")
            let row = try await app.db.sql.raw("SELECT attempts, parked_at_ms, last_error FROM refund_queue WHERE intent_id = \(bind: failing)").first()
            XCTAssertEqual(try row?.decode(column: "attempts", as: Int.self), Refunds.maxAttempts)
            XCTAssertNotNil(try row?.decode(column: "parked_at_ms", as: Int64?.self))
            let metrics = try await app.testable().sendRequest(.GET, "/metrics").body.string
            XCTAssertTrue(metrics.contains(#"payments_refunds_total{outcome="parked"}"#), metrics)
            XCTAssertTrue(metrics.contains(#"payments_refunds_total{outcome="refunded"}"#), metrics)
            XCTAssertTrue(metrics.contains("\nrefunds_pending 1.0\n"), "the parked one is still owed: \(metrics)")
            XCTAssertNotNil(metrics.range(of: #"\nrefunds_pending_oldest_age_seconds [0-9.e+-]+\n"#, options: .regularExpression), metrics)
            XCTAssertTrue(metrics.contains("\ncharges_unsettled 0.0\n"), metrics)
        }
    }
}
