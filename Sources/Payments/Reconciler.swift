import Foundation
import Logging
import Metrics
import TicketingCore

/// Settles charge attempts left unsettled by a request that died or lost Stripe, so a charge Stripe accepted is
/// recorded (and `payment:created` published) even if the buyer never comes back; and gives back charges whose order
/// expired first. Runs at start and then every `interval` seconds; the lease in `charges` keeps it and live requests
/// from settling one attempt twice.
final class Reconciler: Sendable {
    let checkout: Checkout
    let database: @Sendable () -> any Database
    let interval: Double

    init(checkout: Checkout, database: @escaping @Sendable () -> any Database, interval: Double = 5) {
        self.checkout = checkout
        self.database = database
        self.interval = interval
    }

    /// Reconciles until the task is cancelled.
    func run() async {
        await repeatEvery(interval, logger: checkout.logger, failure: "reconciling payments failed; will retry") {
            try await reconcileOnce()
            try await refundDue()
        }
    }

    /// Gives back what `Refunds` holds whose turn has come, each on its own: a refund Stripe refuses or fails waits
    /// its backoff and, after `Refunds.maxAttempts` tries, is parked with an error in the log for a person to look
    /// into, while the others go on. One idempotency key per charge, so a retry never refunds twice.
    @discardableResult
    func refundDue(now: Date = Date()) async throws -> Int {
        try await checkout.unitOfWork.statement(on: database()) { db in try await Refunds.adoptPrevious(on: db) }
        var refunded = 0
        for due in try await Refunds.due(now: now, limit: 100, on: database()) {
            if Task.isCancelled { break }
            do {
                let refundID: String
                do {
                    refundID = try await checkout.stripe.refund(due.intentID, metadata: ["order_id": due.orderId],
                                                                idempotencyKey: due.idempotencyKey).id
                } catch let failure as StripeClient.Failure where failure.code == "charge_already_refunded" {
                    // Given back already, under another key (by hand, or by a replica of the release before).
                    refundID = "already-refunded"
                }
                try await checkout.unitOfWork.run(on: database()) { tx in try await Refunds.done(intentID: due.intentID, refundID: refundID, on: tx.db) }
                refunded += 1
                Self.refunds(.refunded).increment()
            } catch {
                // Stopping is no failure of the refund's.
                if Task.isCancelled { break }
                let (attempts, parked) = try await checkout.unitOfWork.run(on: database()) { tx in
                    try await Refunds.failed(due, error: "\(error)", now: now, on: tx.db)
                }
                Self.refunds(parked ? .parked : .failed).increment()
                let metadata: Logger.Metadata = [
                    "order-id": "\(due.orderId)", "intent": "\(due.intentID)", "attempt": "\(attempts)", "error": "\(error)",
                ]
                if parked {
                    checkout.logger.error("refund parked after \(Refunds.maxAttempts) failed tries: give it back by hand", metadata: metadata)
                } else {
                    checkout.logger.warning("refund failed; will try again", metadata: metadata)
                }
            }
        }
        return refunded
    }

    private enum RefundOutcome: String {
        case refunded, failed, parked
    }

    private static func refunds(_ outcome: RefundOutcome) -> Counter {
        Counter(label: "payments_refunds_total", dimensions: [("outcome", outcome.rawValue)])
    }

    /// Settles every attempt whose lease has ended; returns how many it took on.
    @discardableResult
    func reconcileOnce() async throws -> Int {
        let db = database()
        let now = Date()
        var settled = 0
        for orderId in try await ChargeAttempt.unsettled(before: now.epochMilliseconds, limit: 100, on: db) {
            let taken = try await checkout.unitOfWork.run(on: db) { tx in
                try await ChargeAttempt.takeOver(orderId, now: now.epochMilliseconds,
                                                 until: now.addingTimeInterval(self.checkout.lease).epochMilliseconds, on: tx.db)
            }
            guard let taken else { continue }
            settled += 1
            let outcome: String
            do {
                outcome = try await checkout.settle(taken, on: db).map { "paid as \($0)" } ?? "not charged"
            } catch let error as AppError where error == .expiredAndRefunded {
                outcome = "paid after its order expired; refunding"
            } catch {
                outcome = "still unknown"
            }
            checkout.logger.info("settled an abandoned charge attempt", metadata: [
                "order-id": "\(orderId)", "attempt": "\(taken.number)", "outcome": "\(outcome)",
            ])
        }
        return settled
    }
}
