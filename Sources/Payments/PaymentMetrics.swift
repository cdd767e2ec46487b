import Metrics
import SQLKit
import TicketingCore

/// What money is waiting on, for alerts: refunds not yet accepted by Stripe (`refunds_pending`) and charges
/// whose outcome is not known yet (`charges_unsettled`: in flight, or left by a request that died, until the
/// reconciler settles them).
enum PaymentMetrics {
    static let sampler = MetricSampler("payments") { db in
        let refunds = try await db.sql.raw("SELECT COUNT(*) AS n FROM refund_queue WHERE refund_id IS NULL").first()?
            .decode(column: "n", as: Int.self) ?? 0
        let unsettled = try await db.sql.raw("SELECT COUNT(*) AS n FROM charges WHERE state = \(bind: ChargeState.charging.rawValue)").first()?
            .decode(column: "n", as: Int.self) ?? 0
        Gauge(label: "refunds_pending").record(refunds)
        Gauge(label: "charges_unsettled").record(unsettled)
    }
}
