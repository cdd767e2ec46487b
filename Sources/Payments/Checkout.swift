import Foundation
import Logging
import TicketingCore

/// Charges an order at most once, however many requests, retries and crashes meet it.
///
/// Each order has at most one charge attempt in flight, held with a lease in the `charges` table. An attempt
/// creates a PaymentIntent under an idempotency key made of the order id and the attempt number, stores its id,
/// and only then confirms it: so whatever dies when, the intent that may have been charged is on record, and the
/// next request (or the reconciler) asks Stripe how it ended before a new attempt may start. A new attempt starts
/// only after the previous one is known to have charged nothing (declined, cancelled, never confirmed).
struct Checkout: Sendable {
    let stripe: StripeClient
    let transactions: WriteTransactions
    let logger: Logger
    var lease: TimeInterval = 60
    /// How long a request waits for another request's charge of the same order to end.
    var patience: TimeInterval = 30

    private enum Step {
        case charge(ReplicatedOrder, attempt: Int)
        case settle(ChargeAttempt)
        case wait
    }

    /// Pays `orderId` for `userId` with a card token or PaymentMethod id; returns the payment's id.
    func pay(orderId: String, token: String, userId: String, on db: any Database) async throws -> String {
        let giveUp = Date().addingTimeInterval(patience)
        while true {
            switch try await transactions.run(on: db, { tx in try await decide(orderId, userId: userId, on: tx) }) {
            case .wait:
                guard Date() < giveUp else {
                    throw AppError(.conflict, [ErrorItem(message: "A payment for this order is already in progress")])
                }
                try await Task.sleep(for: .milliseconds(50))
            case .charge(let order, let attempt):
                return try await charge(order, attempt: attempt, token: token, on: db)
            case .settle(let attempt):
                if let paymentID = try await settle(attempt, on: db) { return paymentID }
            }
        }
    }

    /// What this request may do, decided with the order's row locked: refuse, wait for a charge in flight,
    /// settle an abandoned one, or start a new attempt.
    private func decide(_ orderId: String, userId: String, on tx: any Database) async throws -> Step {
        guard let order = try await ReplicatedOrder.findForUpdate(orderId, on: tx) else { throw AppError.notFound }
        guard order.userId == userId else { throw AppError.notAuthorized }
        if try await Payments.id(forOrder: orderId, on: tx) != nil {
            // Paid, unless the expiry came first: then the payment is being refunded, and a retry hears that again.
            if order.status == .cancelled { throw AppError.expiredAndRefunded }
            throw AppError.badRequest("Order has already been paid")
        }
        if order.status == .cancelled { throw AppError.badRequest("Cannot pay for a cancelled order") }
        if order.status == .complete { throw AppError.badRequest("Order has already been paid") }
        if order.expiresAt <= Date() { throw AppError.badRequest("Order has expired") }
        let now = Date().epochMilliseconds
        let leaseUntil = now + Int64(lease * 1_000)
        let previous = try await ChargeAttempt.find(orderId, on: tx)
        if let previous, previous.state == .charging {
            guard previous.leaseUntil <= now,
                  let taken = try await ChargeAttempt.takeOver(orderId, now: now, until: leaseUntil, on: tx) else { return .wait }
            return .settle(taken)
        }
        let attempt = (previous?.number ?? 0) + 1
        try await ChargeAttempt.start(orderId, number: attempt, until: leaseUntil, on: tx)
        return .charge(order, attempt: attempt)
    }

    private func charge(_ order: ReplicatedOrder, attempt: Int, token: String, on db: any Database) async throws -> String {
        let key = Self.idempotencyKey(order.id, attempt)
        let metadata = ["order_id": order.id, "attempt": String(attempt)]
        let intent: StripeClient.PaymentIntent
        do {
            var customer: String?
            var paymentMethod = token
            if token.hasPrefix("tok_") {
                let holder = try await stripe.createCustomer(source: token, metadata: metadata, idempotencyKey: key + "-customer")
                guard let card = holder.default_source else {
                    throw StripeClient.Failure(status: 400, message: "The token holds no card")
                }
                customer = holder.id
                paymentMethod = card
            }
            intent = try await stripe.createPaymentIntent(
                cents: order.price.cents, currency: "usd", paymentMethod: paymentMethod, customer: customer,
                metadata: metadata, idempotencyKey: key + "-intent"
            )
            try await transactions.run(on: db) { tx in
                try await ChargeAttempt.setIntent(order.id, number: attempt, intentID: intent.id, on: tx)
            }
        } catch let failure as StripeClient.Failure where failure.isDecline || failure.isRefusal {
            // Nothing can have been charged before the confirmation: the attempt simply failed.
            try await finish(order.id, attempt: attempt, release: false, on: db)
            if failure.isDecline { throw AppError(.paymentRequired, [ErrorItem(message: failure.message)]) }
            logger.notice("Stripe refused a payment token", metadata: ["order-id": "\(order.id)", "error": "\(failure)"])
            throw AppError.invalid([ErrorItem(message: "Token is not a usable card", field: "token")])
        } catch {
            try await release(order.id, attempt: attempt, after: error, on: db)
        }

        var confirmed: StripeClient.PaymentIntent?
        do {
            confirmed = try await stripe.confirm(intent.id, idempotencyKey: key + "-confirm")
        } catch let failure as StripeClient.Failure where failure.isDecline {
            try await finish(order.id, attempt: attempt, release: false, on: db)
            throw AppError(.paymentRequired, [ErrorItem(message: failure.message)])
        } catch {
            // The charge may or may not have happened: Stripe's record of the intent decides, below.
            logger.warning("confirming a PaymentIntent failed; asking Stripe how it ended", metadata: ["intent": "\(intent.id)", "error": "\(error)"])
        }
        // Recorded outside the calls to Stripe: what recording answers (an expiry that came first) is the buyer's
        // answer, not a failure to reach Stripe.
        if let confirmed, confirmed.status == "succeeded" { return try await record(order.id, intent: confirmed, on: db) }
        let attemptRow = ChargeAttempt(orderId: order.id, number: attempt, state: .charging, intentID: intent.id, leaseUntil: 0)
        if let paymentID = try await settle(attemptRow, on: db) { return paymentID }
        throw AppError(.paymentRequired, [ErrorItem(message: "Your card was declined.")])
    }

    /// Ends an attempt whose holder is gone or unsure, from Stripe's record of its intent. Returns the payment id
    /// if it was charged; nil if it certainly was not (the attempt is then failed and a new one may start).
    func settle(_ attempt: ChargeAttempt, on db: any Database) async throws -> String? {
        guard let intentID = attempt.intentID else {
            // Never confirmed, so never charged.
            try await finish(attempt.orderId, attempt: attempt.number, release: false, on: db)
            return nil
        }
        let key = Self.idempotencyKey(attempt.orderId, attempt.number)
        let intent: StripeClient.PaymentIntent
        do {
            intent = try await stripe.paymentIntent(intentID)
        } catch {
            try await release(attempt.orderId, attempt: attempt.number, after: error, on: db)
        }
        switch intent.status {
        case "succeeded":
            return try await record(attempt.orderId, intent: intent, on: db)
        case "requires_payment_method", "canceled":
            try await finish(attempt.orderId, attempt: attempt.number, release: false, on: db)
            return nil
        case "requires_confirmation", "requires_action":
            // Its request is gone; a buyer who still wants to pay asks again, with the card they choose then.
            do {
                _ = try await stripe.cancel(intentID, idempotencyKey: key + "-cancel")
            } catch {
                try await release(attempt.orderId, attempt: attempt.number, after: error, on: db)
            }
            try await finish(attempt.orderId, attempt: attempt.number, release: false, on: db)
            return nil
        default:
            try await release(attempt.orderId, attempt: attempt.number, after: PaymentPending(status: intent.status), on: db)
        }
    }

    /// Stripe keeps the first answer to a key for a day: one key per order and attempt (and step, by suffix) means a
    /// retried call gets that answer back instead of acting twice, and a new attempt after a decline is a new call.
    static func idempotencyKey(_ orderId: String, _ attempt: Int) -> String {
        "ticketing-order-\(orderId)-attempt-\(attempt)"
    }

    private struct PaymentPending: Error {
        var status: String
    }

    /// Records a charge Stripe accepted. If the order was cancelled meanwhile (its expiry came first), the payment is
    /// still recorded, and refunded, and the buyer hears that the order expired.
    private func record(_ orderId: String, intent: StripeClient.PaymentIntent, on db: any Database) async throws -> String {
        let (paymentID, expired) = try await transactions.run(on: db) { tx in
            let paymentID = try await Payments.record(orderId: orderId, stripeId: intent.id, on: tx)
            guard try await ReplicatedOrder.findForUpdate(orderId, on: tx)?.status == .cancelled else { return (paymentID, false) }
            try await Refunds.schedule(orderId: orderId, on: tx)
            return (paymentID, true)
        }
        if expired {
            logger.warning("charged an order that expired meanwhile; refunding", metadata: ["order-id": "\(orderId)"])
            throw AppError.expiredAndRefunded
        }
        return paymentID
    }


    private func finish(_ orderId: String, attempt: Int, release: Bool, on db: any Database) async throws {
        try await transactions.run(on: db) { tx in try await ChargeAttempt.finish(orderId, number: attempt, release: release, on: tx) }
    }

    /// Leaves the attempt for whoever comes next to settle, and tells this buyer to try again.
    private func release(_ orderId: String, attempt: Int, after error: any Error, on db: any Database) async throws -> Never {
        logger.warning("payment left unsettled", metadata: ["order-id": "\(orderId)", "attempt": "\(attempt)", "error": "\(error)"])
        try? await finish(orderId, attempt: attempt, release: true, on: db)
        if error is PaymentPending {
            throw AppError(.serviceUnavailable, [ErrorItem(message: "The payment is still being processed, try again shortly")])
        }
        throw AppError(.serviceUnavailable, [ErrorItem(message: "Payments are unavailable right now, try again shortly")])
    }
}

extension AppError {
    /// A charge that lost the race with the order's expiry: the ticket may be someone else's now, so the money goes back.
    static let expiredAndRefunded = AppError(.badRequest, [
        ErrorItem(message: "Order has expired"), ErrorItem(message: "The charge has been refunded"),
    ])
}

extension StripeClient.Failure {
    /// Stripe rejected the request itself (an unknown or used token, a bad card number): retrying cannot help.
    var isRefusal: Bool { (400..<500).contains(status) && status != 402 && status != 409 && status != 429 }
}
