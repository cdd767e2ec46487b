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
///
/// A holder that stalls past its lease may find it taken over: every write names the lease, so it then records nothing
/// and confirms nothing (an intent it made meanwhile is cancelled), and its request waits for the outcome like any
/// other. Should a second charge of one order succeed all the same, it is refunded, never kept.
struct Checkout: Sendable {
    let stripe: any StripeAPI
    let unitOfWork: UnitOfWork
    let logger: Logger
    var lease: TimeInterval = 60
    /// How long a request waits for another request's charge of the same order to end.
    var patience: TimeInterval = 30

    private enum Step {
        case charge(ReplicatedOrder, ChargeAttempt)
        case settle(ChargeAttempt)
        case wait
    }

    /// This request's lease was taken over: the attempt is another holder's to settle.
    private struct LeaseLost: Error {}

    /// Pays `orderId` for `userId` with a card token or PaymentMethod id; returns the payment's id.
    func pay(orderId: String, token: String, userId: String, on db: any Database) async throws -> String {
        var giveUp = Date().addingTimeInterval(patience)
        // A request that lost its lease charges nothing more: it waits for the outcome of the attempt it lost.
        var mayCharge = true
        while true {
            do {
                let charging = mayCharge
                switch try await unitOfWork.run(on: db, { tx in try await decide(orderId, userId: userId, mayCharge: charging, on: tx.db) }) {
                case .wait:
                    guard Date() < giveUp else {
                        throw AppError(.conflict, [ErrorItem(message: "A payment for this order is already in progress")])
                    }
                    try await Task.sleep(for: .milliseconds(50))
                case .charge(let order, let attempt):
                    return try await charge(order, attempt, token: token, on: db)
                case .settle(let attempt):
                    if let paymentID = try await settle(attempt, on: db) { return paymentID }
                }
            } catch is LeaseLost {
                mayCharge = false
                giveUp = Date().addingTimeInterval(patience)
            }
        }
    }

    /// What this request may do, decided with the order's row locked: refuse, wait for a charge in flight,
    /// settle an abandoned one, or start a new attempt.
    private func decide(_ orderId: String, userId: String, mayCharge: Bool, on tx: any Database) async throws -> Step {
        guard let order = try await ReplicatedOrder.findForUpdate(orderId, on: tx) else { throw AppError.notFound }
        guard order.userId == userId else { throw AppError.notAuthorized }
        if try await PaymentRecords.id(forOrder: orderId, on: tx) != nil {
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
        // The attempt this request lost ended without a charge: the buyer decides whether to try again.
        guard mayCharge else { throw AppError.paymentNotCompleted }
        let number = (previous?.number ?? 0) + 1
        return .charge(order, try await ChargeAttempt.start(orderId, number: number, until: leaseUntil, on: tx))
    }

    private func charge(_ order: ReplicatedOrder, _ attempt: ChargeAttempt, token: String, on db: any Database) async throws -> String {
        let key = Self.idempotencyKey(order.id, attempt.number)
        let metadata = ["order_id": order.id, "attempt": String(attempt.number)]
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
        } catch let failure as StripeClient.Failure where failure.isDecline || failure.isRefusal {
            // Nothing can have been charged before the confirmation: the attempt simply failed, and the buyer hears
            // why even if its lease ended meanwhile.
            try? await finish(attempt, on: db)
            if failure.isDecline { throw AppError(.paymentRequired, [ErrorItem(message: failure.message)]) }
            logger.notice("Stripe refused a payment token", metadata: ["order-id": "\(order.id)", "error": "\(failure)"])
            throw AppError.invalid([ErrorItem(message: "Token is not a usable card", field: "token")])
        } catch {
            try await release(attempt, after: error, on: db)
        }
        let intentRecorded: Bool
        do {
            intentRecorded = try await unitOfWork.run(on: db) { tx in try await attempt.setIntent(intent.id, on: tx.db) }
        } catch {
            // Unrecorded, so it must never be confirmed; the next comer finds the attempt without an intent.
            _ = try? await stripe.cancel(intent.id, idempotencyKey: key + "-cancel")
            try await release(attempt, after: error, on: db)
        }
        guard intentRecorded else {
            // Whoever took the attempt over has decided it without this intent: it must never be charged.
            logger.warning("a charge attempt outlived its lease; cancelling its intent", metadata: ["order-id": "\(order.id)", "intent": "\(intent.id)"])
            _ = try? await stripe.cancel(intent.id, idempotencyKey: key + "-cancel")
            throw LeaseLost()
        }

        var confirmed: StripeClient.PaymentIntent?
        do {
            confirmed = try await stripe.confirm(intent.id, idempotencyKey: key + "-confirm")
        } catch let failure as StripeClient.Failure where failure.isDecline {
            try? await finish(attempt, on: db)
            throw AppError(.paymentRequired, [ErrorItem(message: failure.message)])
        } catch {
            // The charge may or may not have happened: Stripe's record of the intent decides, below.
            logger.warning("confirming a PaymentIntent failed; asking Stripe how it ended", metadata: ["intent": "\(intent.id)", "error": "\(error)"])
        }
        // Recorded outside the calls to Stripe: what recording answers (an expiry that came first) is the buyer's
        // answer, not a failure to reach Stripe.
        if let confirmed, confirmed.status == .succeeded { return try await record(order.id, intent: confirmed, on: db) }
        var recorded = attempt
        recorded.intentID = intent.id
        if let paymentID = try await settle(recorded, on: db) { return paymentID }
        throw AppError(.paymentRequired, [ErrorItem(message: "Your card was declined.")])
    }

    /// Ends an attempt whose holder is gone or unsure, from Stripe's record of its intent. Returns the payment id
    /// if it was charged; nil if it certainly was not (the attempt is then failed and a new one may start).
    func settle(_ attempt: ChargeAttempt, on db: any Database) async throws -> String? {
        guard let intentID = attempt.intentID else {
            // No intent on record, so none was confirmed: a holder confirms only after recording its intent under its
            // lease, and this lease ended the one before it.
            try await finish(attempt, on: db)
            return nil
        }
        let key = Self.idempotencyKey(attempt.orderId, attempt.number)
        let intent: StripeClient.PaymentIntent
        do {
            intent = try await stripe.paymentIntent(intentID)
        } catch {
            try await release(attempt, after: error, on: db)
        }
        switch intent.status {
        case .succeeded:
            return try await record(attempt.orderId, intent: intent, on: db)
        case .requiresPaymentMethod, .canceled:
            try await finish(attempt, on: db)
            return nil
        case .requiresConfirmation, .requiresAction:
            // Its request is gone; a buyer who still wants to pay asks again, with the card they choose then.
            do {
                _ = try await stripe.cancel(intentID, idempotencyKey: key + "-cancel")
            } catch {
                try await release(attempt, after: error, on: db)
            }
            try await finish(attempt, on: db)
            return nil
        default:
            try await release(attempt, after: PaymentPending(status: intent.status), on: db)
        }
    }

    /// Stripe keeps the first answer to a key for a day: one key per order and attempt (and step, by suffix) means a
    /// retried call gets that answer back instead of acting twice, and a new attempt after a decline is a new call.
    static func idempotencyKey(_ orderId: String, _ attempt: Int) -> String {
        "ticketing-order-\(orderId)-attempt-\(attempt)"
    }

    private struct PaymentPending: Error {
        var status: StripeClient.IntentStatus
    }

    /// Records a charge Stripe accepted. If the order was cancelled meanwhile (its expiry came first), the payment is
    /// still recorded, and refunded, and the buyer hears that the order expired. A charge beyond the one recorded for
    /// the order is refunded, and the buyer hears that the order is paid.
    private func record(_ orderId: String, intent: StripeClient.PaymentIntent, on db: any Database) async throws -> String {
        let (payment, expired) = try await unitOfWork.run(on: db) { tx in
            let payment = try await PaymentRecords.record(orderId: orderId, stripeId: intent.id, in: tx)
            if payment.stripeId != intent.id { try await Refunds.schedule(orderId: orderId, intentID: intent.id, on: tx.db) }
            guard try await ReplicatedOrder.findForUpdate(orderId, on: tx.db)?.status == .cancelled else { return (payment, false) }
            try await Refunds.schedule(orderId: orderId, on: tx.db)
            return (payment, true)
        }
        if expired {
            logger.warning("charged an order that expired meanwhile; refunding", metadata: ["order-id": "\(orderId)"])
            throw AppError.expiredAndRefunded
        }
        if payment.stripeId != intent.id {
            logger.error("charged an order twice; refunding the second charge", metadata: [
                "order-id": "\(orderId)", "recorded": "\(payment.stripeId)", "refunding": "\(intent.id)",
            ])
            throw AppError.badRequest("Order has already been paid")
        }
        return payment.id
    }

    /// Ends the attempt as failed; a lease taken over meanwhile leaves it to its new holder.
    private func finish(_ attempt: ChargeAttempt, on db: any Database) async throws {
        guard try await unitOfWork.run(on: db, { tx in try await attempt.finish(release: false, on: tx.db) }) else { throw LeaseLost() }
    }

    /// Leaves the attempt for whoever comes next to settle, and tells this buyer to try again.
    private func release(_ attempt: ChargeAttempt, after error: any Error, on db: any Database) async throws -> Never {
        logger.warning("payment left unsettled", metadata: ["order-id": "\(attempt.orderId)", "attempt": "\(attempt.number)", "error": "\(error)"])
        _ = try? await unitOfWork.run(on: db) { tx in try await attempt.finish(release: true, on: tx.db) }
        if error is PaymentPending {
            throw AppError(.serviceUnavailable, [ErrorItem(message: "The payment is still being processed, try again shortly")])
        }
        throw AppError(.serviceUnavailable, [ErrorItem(message: "Payments are unavailable right now, try again shortly")])
    }
}

extension AppError {
    /// This request's charge attempt was taken over (it stalled past its lease) and ended without a charge.
    static let paymentNotCompleted = AppError(.serviceUnavailable, [
        ErrorItem(message: "The payment could not be completed, try again"),
    ])

    /// A charge that lost the race with the order's expiry: the ticket may be someone else's now, so the money goes back.
    static let expiredAndRefunded = AppError(.badRequest, [
        ErrorItem(message: "Order has expired"), ErrorItem(message: "The charge has been refunded"),
    ])
}

extension StripeClient.Failure {
    /// Stripe rejected the request itself (an unknown or used token, a bad card number): retrying cannot help.
    var isRefusal: Bool { (400..<500).contains(status) && status != 402 && status != 409 && status != 429 }
}
