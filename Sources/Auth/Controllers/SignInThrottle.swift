import SQLKit
import TicketingCore

/// Limits failed sign-ins per email and per client address within a window, counted in the database
/// so that every replica of the service sees the same counts.
struct SignInThrottle: Sendable {
    var maxFailuresPerEmail = 5
    // Generous: many people may share one address (an office, a carrier NAT); the per-email limit stops guessing.
    var maxFailuresPerAddress = 100
    var window: Double = 15 * 60

    /// Throws 429 while either key has used up its failures in the current window.
    func check(email: String, address: String?, on db: any SQLDatabase, now: Date = Date()) async throws {
        let windowStart = now.timeIntervalSince1970 - window
        for (key, limit) in keys(email: email, address: address) {
            let row = try await db.raw("""
                SELECT failures, window_started_at FROM signin_failures
                WHERE key = \(bind: key) AND window_started_at > \(bind: windowStart)
                """).first()
            guard let row, try row.decode(column: "failures", as: Int.self) >= limit else { continue }
            let startedAt = try row.decode(column: "window_started_at", as: Double.self)
            let retryAfter = max(1, Int((startedAt + window - now.timeIntervalSince1970).rounded(.up)))
            throw AppError(
                .tooManyRequests,
                [ErrorItem(message: "Too many failed sign-in attempts, try again later")],
                headers: ["Retry-After": "\(retryAfter)"]
            )
        }
    }

    /// Counts one failure against each key; a key whose window has passed starts a new window. One statement per key,
    /// so concurrent failures are all counted.
    func recordFailure(email: String, address: String?, on db: any SQLDatabase, now: Date = Date()) async throws {
        let nowSeconds = now.timeIntervalSince1970
        let windowStart = nowSeconds - window
        for (key, _) in keys(email: email, address: address) {
            try await db.raw("""
                INSERT INTO signin_failures (key, failures, window_started_at) VALUES (\(bind: key), 1, \(bind: nowSeconds))
                ON CONFLICT (key) DO UPDATE SET
                  failures = CASE WHEN signin_failures.window_started_at > \(bind: windowStart)
                                  THEN signin_failures.failures + 1 ELSE 1 END,
                  window_started_at = CASE WHEN signin_failures.window_started_at > \(bind: windowStart)
                                  THEN signin_failures.window_started_at ELSE \(bind: nowSeconds) END
                """).run()
        }
    }

    /// A successful sign-in forgives the email's failures (not the address's: one address may try many emails).
    func recordSuccess(email: String, on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM signin_failures WHERE key = \(bind: "email:" + email)").run()
    }

    private func keys(email: String, address: String?) -> [(String, Int)] {
        var keys = [("email:" + email, maxFailuresPerEmail)]
        if let address { keys.append(("address:" + address, maxFailuresPerAddress)) }
        return keys
    }
}
