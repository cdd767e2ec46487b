import Foundation
import JetStream
@testable import Payments
import TicketingCore
import TicketingTesting
import XCTVapor

final class PaymentRouteTests: PaymentTestCase {
    func testPayingChargesThePriceInCentsAndPublishesPaymentCreated() async throws {
        try await withPayments(tuning: .wakeOnly) { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 12_345)
            let response = try await pay(buyer, orderId)
            XCTAssertEqual(response.status, .created, response.body.string)
            let paymentId = try XCTUnwrap(response.object["id"] as? String)
            XCTAssertEqual(response.object.count, 1)

            try await eventually { bus.events(PaymentCreatedEvent.self).count == 1 }
            let event = try XCTUnwrap(bus.events(PaymentCreatedEvent.self).first)
            XCTAssertEqual(event.id, paymentId)
            XCTAssertEqual(event.orderId, orderId)
            XCTAssertTrue(event.stripeId.hasPrefix("pi_"), event.stripeId)
            let intent = try await stripeCall(app, .GET, "/v1/payment_intents/\(event.stripeId)")
            XCTAssertEqual(intent["amount"] as? Int, 12_345)
            XCTAssertEqual(intent["currency"] as? String, "usd")
            XCTAssertEqual(intent["status"] as? String, "succeeded")
            XCTAssertEqual((intent["metadata"] as? [String: String])?["order_id"], orderId)
            try await assertEqual(try await charges(app, cents: 12_345).count, 1)

            let again = try await pay(buyer, orderId)
            XCTAssertEqual(again.status, .badRequest)
            XCTAssertEqual(again.errorEnvelope?.errors, [ErrorItem(message: "Order has already been paid")])
            try await assertEqual(try await charges(app, cents: 12_345).count, 1)
        }
    }

    func testACardTokenIsChargedThroughACustomer() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 4_321)
            let response = try await pay(buyer, orderId, token: try await cardToken(app))
            XCTAssertEqual(response.status, .created, response.body.string)
            let charged = try await charges(app, cents: 4_321)
            XCTAssertEqual(charged.count, 1)
            XCTAssertTrue((charged.first?["customer"] as? String)?.hasPrefix("cus_") ?? false)
        }
    }

    func testADeclinedCardIsA402WithStripesMessageAndTheOrderStaysPayable() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 777)
            let declined = try await pay(buyer, orderId, token: "pm_card_chargeCustomerFail")
            XCTAssertEqual(declined.status, .paymentRequired, declined.body.string)
            XCTAssertEqual(declined.errorEnvelope?.errors, [ErrorItem(message: "Your card was declined.")])
            try await Task.sleep(for: .milliseconds(100))
            XCTAssertEqual(bus.events(PaymentCreatedEvent.self).count, 0)

            let declinedToken = try await pay(buyer, orderId, token: try await cardToken(app, number: "4000000000000002"))
            XCTAssertEqual(declinedToken.status, .paymentRequired, declinedToken.body.string)

            let paid = try await pay(buyer, orderId)
            XCTAssertEqual(paid.status, .created, paid.body.string)
            try await assertEqual(try await charges(app, cents: 777).count, 1)
        }
    }

    func testInputOwnershipAndOrderStateAreChecked() async throws {
        try await withPayments { app, bus in
            let signedOut = try await TestClient.signedOut(app).send(.POST, "/api/payments", json: #"{"token": "pm_card_visa", "orderId": "x"}"#)
            XCTAssertEqual(signedOut.status, .unauthorized)

            let buyer = try await TestClient.signedIn(app)
            let missing = try await buyer.send(.POST, "/api/payments", json: #"{"token": " "}"#)
            XCTAssertEqual(missing.status, .badRequest)
            XCTAssertEqual(missing.errorEnvelope?.errors.map(\.field), ["token", "orderId"])
            let notJSON = try await buyer.send(.POST, "/api/payments", json: "{")
            XCTAssertEqual(notJSON.status, .badRequest)

            let unknown = try await pay(buyer, UUID().uuidString)
            XCTAssertEqual(unknown.status, .notFound)

            let orderId = try await order(app, bus, for: buyer, cents: 900)
            let stranger = try await TestClient.signedIn(app)
            let notOwner = try await pay(stranger, orderId)
            XCTAssertEqual(notOwner.status, .unauthorized)

            let badToken = try await pay(buyer, orderId, token: "tok_doesnotexist")
            XCTAssertEqual(badToken.status, .badRequest, badToken.body.string)
            XCTAssertEqual(badToken.errorEnvelope?.errors.first?.field, "token")

            let expiredId = try await order(app, bus, for: buyer, cents: 901, expiresIn: -1)
            let expired = try await pay(buyer, expiredId)
            XCTAssertEqual(expired.errorEnvelope?.errors, [ErrorItem(message: "Order has expired")])

            let cancelled = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: "t"))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCancelled.rawValue, id: UUID().uuidString, data: try cancelled.encoded())])
            try await eventually { try await ReplicatedOrder.findForUpdate(orderId, on: app.db)?.status == .cancelled }
            let refused = try await pay(buyer, orderId)
            XCTAssertEqual(refused.status, .badRequest)
            XCTAssertEqual(refused.errorEnvelope?.errors, [ErrorItem(message: "Cannot pay for a cancelled order")])
            try await assertEqual(try await charges(app, cents: 900).count + charges(app, cents: 901).count, 0)
        }
    }

    func testManySimultaneousPaymentsOfOneOrderChargeOnce() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 31_337)
            let statuses = try await withThrowingTaskGroup(of: (UInt, String).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let response = try await buyer.send(.POST, "/api/payments", json: #"{"token": "pm_card_visa", "orderId": "\#(orderId)"}"#)
                        return (response.status.code, response.errorEnvelope?.errors.first?.message ?? "")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0.0 == 201 }.count, 1, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == (400, "Order has already been paid") }.count, 19, "\(statuses)")
            try await assertEqual(try await charges(app, cents: 31_337).count, 1)
            try await eventually { bus.events(PaymentCreatedEvent.self).count == 1 }
        }
    }
}

final class PaymentRecoveryTests: PaymentTestCase {
    /// What a service that died between Stripe's answer and its own commit leaves behind: a charged intent
    /// whose attempt is on record with an ended lease, and no payment.
    func chargedButNotRecorded(_ app: Application, orderId: String, cents: Int64) async throws -> String {
        let intent = try await stripeCall(app, .POST, "/v1/payment_intents", form: [
            "amount": "\(cents)", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true", "metadata[order_id]": orderId,
        ])
        let intentID = try XCTUnwrap(intent["id"] as? String)
        XCTAssertEqual(intent["status"] as? String, "succeeded")
        _ = try await ChargeAttempt.start(orderId, number: 1, until: 0, on: app.db).setIntent(intentID, on: app.db)
        return intentID
    }

    func testARetryAfterACrashRecordsTheChargeInsteadOfChargingAgain() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 5_151)
            let intentID = try await chargedButNotRecorded(app, orderId: orderId, cents: 5_151)
            let retry = try await pay(buyer, orderId)
            XCTAssertEqual(retry.status, .created, retry.body.string)
            try await assertEqual(try await charges(app, cents: 5_151).count, 1, "not charged again")
            try await eventually { bus.events(PaymentCreatedEvent.self).map(\.stripeId) == [intentID] }
        }
    }

    func testTheReconcilerRecordsAnAbandonedChargeWithoutTheBuyer() async throws {
        try await withPayments(tuning: .wakeOnly) { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 6_262)
            let intentID = try await chargedButNotRecorded(app, orderId: orderId, cents: 6_262)
            let checkout = Checkout(stripe: stripeClient(app),
                                    unitOfWork: app.unitOfWork, logger: app.logger)
            let reconciler = Reconciler(checkout: checkout, database: { app.db })
            let delay = try await secondsToPublish(PaymentCreatedEvent.self, on: bus) {
                try await assertEqual(try await reconciler.reconcileOnce(), 1)
            }
            XCTAssertLessThan(delay, 0.5, "the reconciler's payment:created went out at once, not at the relay's 60 s poll")
            try await assertEqual(try await reconciler.reconcileOnce(), 0, "settled once")
            XCTAssertEqual(bus.events(PaymentCreatedEvent.self).map(\.stripeId), [intentID])
            let again = try await pay(buyer, orderId)
            XCTAssertEqual(again.errorEnvelope?.errors, [ErrorItem(message: "Order has already been paid")])
        }
    }

    func testAnAttemptThatNeverReachedConfirmationIsNotChargedAndTheOrderStaysPayable() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 7_373)
            let intent = try await stripeCall(app, .POST, "/v1/payment_intents", form: [
                "amount": "7373", "currency": "usd", "payment_method": "pm_card_visa",
            ])
            let intentID = try XCTUnwrap(intent["id"] as? String)
            _ = try await ChargeAttempt.start(orderId, number: 1, until: 0, on: app.db).setIntent(intentID, on: app.db)

            let paid = try await pay(buyer, orderId)
            XCTAssertEqual(paid.status, .created, paid.body.string)
            let abandoned = try await stripeCall(app, .GET, "/v1/payment_intents/\(intentID)")
            XCTAssertEqual(abandoned["status"] as? String, "canceled", "the abandoned intent can never be charged")
            try await assertEqual(try await charges(app, cents: 7_373).count, 1)
        }
    }

    func testStripeDownIsA503ThatLosesNothing() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 8_484)
            Self.stripe.stop()
            let down = try await pay(buyer, orderId)
            XCTAssertEqual(down.status, .serviceUnavailable, down.body.string)
            XCTAssertFalse(down.body.string.contains("127.0.0.1"), "no internals leak")
            try Self.stripe.start()
            let paid = try await pay(buyer, orderId)
            XCTAssertEqual(paid.status, .created, paid.body.string)
            try await assertEqual(try await charges(app, cents: 8_484).count, 1)
        }
    }
}

final class PaymentRefundTests: PaymentTestCase {
    func testAPaymentWhoseOrderWasCancelledAfterwardsIsRefundedOnce() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 9_595)
            let paid = try await pay(buyer, orderId)
            XCTAssertEqual(paid.status, .created, paid.body.string)
            // The expiry reached the orders service before the payment did: the order is cancelled.
            let cancelled = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: "t"))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCancelled.rawValue, id: UUID().uuidString, data: try cancelled.encoded())])
            try await eventually { try await Refunds.due(now: Date(), limit: 10, on: app.db).map(\.orderId) == [orderId] }

            let reconciler = Reconciler(checkout: Checkout(
                stripe: stripeClient(app),
                unitOfWork: app.unitOfWork, logger: app.logger
            ), database: { app.db })
            try await assertEqual(try await reconciler.refundDue(), 1)
            try await assertEqual(try await reconciler.refundDue(), 0, "refunded once")
            let refunded = try await charges(app, cents: 9_595).first
            let charge = try XCTUnwrap(refunded)
            XCTAssertEqual(charge["refunded"] as? Bool, true, "\(charge)")
            XCTAssertEqual(charge["amount_refunded"] as? Int, 9_595)
        }
    }
}

extension PaymentRecoveryTests {
    /// The expiry reached this service while the charge was on its way: the buyer used to get a 503 "try again
    /// shortly", and the retry "Order has already been paid", while the money was silently given back.
    func testAChargeThatLostTheRaceWithTheExpiryIsA400ThatSaysItIsRefunded() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer, cents: 9_696)
            let intentID = try await chargedButNotRecorded(app, orderId: orderId, cents: 9_696)
            let cancelled = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: "t"))
            try await bus.publish([OutgoingMessage(subject: Subject.orderCancelled.rawValue, id: UUID().uuidString, data: try cancelled.encoded())])
            try await eventually { try await ReplicatedOrder.findForUpdate(orderId, on: app.db)?.status == .cancelled }

            // The request that was charging finds the order cancelled when it records the charge.
            let checkout = Checkout(stripe: stripeClient(app),
                                    unitOfWork: app.unitOfWork, logger: app.logger)
            let now = Date().epochMilliseconds
            let taken = try await ChargeAttempt.takeOver(orderId, now: now, until: now + 60_000, on: app.db)
            let attempt = try XCTUnwrap(taken)
            XCTAssertEqual(attempt.intentID, intentID)
            do {
                _ = try await checkout.settle(attempt, on: app.db)
                XCTFail("a charge for an expired order is not a payment")
            } catch let error as AppError {
                XCTAssertEqual(error.status, .badRequest)
                XCTAssertEqual(error.errors, [ErrorItem(message: "Order has expired"), ErrorItem(message: "The charge has been refunded")])
            }
            let retry = try await pay(buyer, orderId)
            XCTAssertEqual(retry.status, .badRequest)
            XCTAssertEqual(retry.errorEnvelope?.errors, [ErrorItem(message: "Order has expired"), ErrorItem(message: "The charge has been refunded")])
            try await assertEqual(try await Refunds.due(now: Date(), limit: 10, on: app.db).map(\.orderId), [orderId])
        }
    }
}

final class PaymentListenerTests: PaymentTestCase {
    func testCancellationsApplyInVersionOrderAndDuplicatesChangeNothing() async throws {
        try await withPayments { app, bus in
            let buyer = try await TestClient.signedIn(app)
            let orderId = try await order(app, bus, for: buyer)
            let early = OrderCancelledEvent(id: orderId, version: 2, ticket: .init(id: "t"))
            try await assertEqual(try await apply(OrderCancelledListener(), early, app), .retryLater)
            try await assertEqual(try await ReplicatedOrder.findForUpdate(orderId, on: app.db)?.status, .created)
            let next = OrderCancelledEvent(id: orderId, version: 1, ticket: .init(id: "t"))
            try await assertEqual(try await apply(OrderCancelledListener(), next, app), .done)
            try await assertEqual(try await apply(OrderCancelledListener(), next, app), .done)
            let replica = try await ReplicatedOrder.findForUpdate(orderId, on: app.db)
            XCTAssertEqual(replica?.status, .cancelled)
            XCTAssertEqual(replica?.version, 1)
            let unknown = OrderCancelledEvent(id: UUID().uuidString, version: 1, ticket: .init(id: "t"))
            try await assertEqual(try await apply(OrderCancelledListener(), unknown, app), .retryLater, "its creation may still come")
        }
    }
}
