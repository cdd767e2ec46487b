import Foundation
import Logging
import Metrics
import TicketingCore

/// Turns due rows of the schedule into `expiration:complete` events. It sleeps until the earliest due time (never
/// longer than `longestNap`, so rows another replica added are seen soon), claims what is due in batches, and
/// records the events in the outbox in the same transaction that removes the rows: an expiry is published
/// once it is claimed, and claimed once.
final class Scheduler: Sendable {
    static let longestNap = 0.2
    static let batchSize = 1_000

    private let database: @Sendable () -> any Database
    private let unitOfWork: UnitOfWork
    private let logger: Logger
    private let wakeSignal = WakeSignal()
    private let lateness = Timer(label: "expiration_lateness_seconds", preferredDisplayUnit: .seconds)
    private let fired = Counter(label: "expirations_fired_total")
    private let pending = Gauge(label: "expirations_pending")

    init(database: @escaping @Sendable () -> any Database, unitOfWork: UnitOfWork, logger: Logger) {
        self.database = database
        self.unitOfWork = unitOfWork
        self.logger = logger
    }

    /// Asks for a look at the schedule now rather than at the next nap's end.
    func lookNow() {
        wakeSignal.signal()
    }

    /// Fires expiries until the task is cancelled.
    func run() async {
        var backoff = Backoff(logger: logger, waiting: "expiration scheduler waiting for the database")
        var lastCount = Date.distantPast
        while !Task.isCancelled {
            do {
                while try await fireDue() == Self.batchSize {}
                if lastCount.timeIntervalSinceNow < -5 {
                    pending.record(try await Schedule.pendingCount(on: database()))
                    lastCount = Date()
                }
                let next = try await Schedule.nextDue(on: database())
                backoff.succeeded()
                await wakeSignal.wait(timeout: min(Self.longestNap, max(0, next?.timeIntervalSinceNow ?? Self.longestNap)))
            } catch {
                if Task.isCancelled { break }
                await backoff.failed(error)
            }
        }
    }

    /// Claims one batch of due expiries and records their events; returns how many it fired.
    @discardableResult
    func fireDue(now: Date = Date()) async throws -> Int {
        let claimed = try await unitOfWork.run(on: database()) { tx in
            let due = try await Schedule.claimDue(by: now, limit: Self.batchSize, on: tx.db)
            try await tx.record(due.map { ExpirationCompleteEvent(orderId: $0.orderId) })
            return due.map(\.due)
        }
        guard !claimed.isEmpty else { return 0 }
        let firedAt = Date()
        for due in claimed { lateness.recordNanoseconds(Int64(max(0, firedAt.timeIntervalSince(due)) * 1e9)) }
        fired.increment(by: claimed.count)
        return claimed.count
    }
}
