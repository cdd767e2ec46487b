import Foundation
import Metrics
import SQLKit
import TicketingCore

/// What money is waiting on: refunds Stripe has not accepted yet (`refunds_pending`, and the age of the oldest,
/// `refunds_pending_oldest_age_seconds`) and charges whose outcome is not known yet (`charges_unsettled`: in flight,
/// or left by a request that died until the reconciler settles them; `charges_unsettled_overdue_seconds`: how long
/// the oldest has been past its lease, which the reconciler should settle within seconds). The alerts read the ages:
/// a count stays above zero under steady traffic without anything being stuck.
enum PaymentMetrics {
    static let sampler = MetricSampler("payments") { db in
        let now = Date()
        let refunds = try await db.sql.raw("""
            SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM refund_queue WHERE refund_id IS NULL
            """).first()
        let oldestRefund = try refunds?.decode(column: "oldest", as: Date?.self)
        let charges = try await db.sql.raw("""
            SELECT COUNT(*) AS n, MIN(lease_until_ms) AS lease FROM charges WHERE state = \(bind: ChargeState.charging.rawValue)
            """).first()
        let earliestLease = try charges?.decode(column: "lease", as: Int64?.self)
        Gauge(label: "refunds_pending").record(try refunds?.decode(column: "n", as: Int.self) ?? 0)
        Gauge(label: "refunds_pending_oldest_age_seconds").record(oldestRefund.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        Gauge(label: "charges_unsettled").record(try charges?.decode(column: "n", as: Int.self) ?? 0)
        Gauge(label: "charges_unsettled_overdue_seconds").record(
            earliestLease.map { max(0, Double(now.epochMilliseconds - $0) / 1_000) } ?? 0
        )
    }
}
