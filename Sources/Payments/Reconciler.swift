import Foundation
import Logging
import Synchronization
import TicketingCore

/// Settles charge attempts left unsettled by a request that died or lost Stripe, so a charge Stripe accepted is
/// recorded (and `payment:created` published) even if the buyer never comes back. Runs at start and then every
/// `interval` seconds; the lease in `charges` keeps it and live requests from settling one attempt twice.
final class Reconciler: LifecycleHandler, Sendable {
    let checkout: Checkout
    let database: @Sendable () -> any Database
    let interval: Double
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(checkout: Checkout, database: @escaping @Sendable () -> any Database, interval: Double = 15) {
        self.checkout = checkout
        self.database = database
        self.interval = interval
    }

    func didBootAsync(_ application: Application) async throws {
        task.withLock { $0 = Task { await self.run() } }
    }

    func shutdownAsync(_ application: Application) async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }

    private func run() async {
        while !Task.isCancelled {
            do {
                try await reconcileOnce()
            } catch {
                checkout.logger.warning("reconciling payments failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(Int(interval * 1_000)))
        }
    }

    /// Settles every attempt whose lease has ended; returns how many it took on.
    @discardableResult
    func reconcileOnce() async throws -> Int {
        let db = database()
        let now = Date()
        var settled = 0
        for orderId in try await ChargeAttempt.unsettled(before: now.epochMilliseconds, limit: 100, on: db) {
            let taken = try await checkout.transactions.run(on: db) { tx in
                try await ChargeAttempt.takeOver(orderId, now: now.epochMilliseconds,
                                                 until: now.addingTimeInterval(self.checkout.lease).epochMilliseconds, on: tx)
            }
            guard let taken else { continue }
            settled += 1
            let outcome: String
            do {
                outcome = try await checkout.settle(taken, on: db).map { "paid as \($0)" } ?? "not charged"
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
