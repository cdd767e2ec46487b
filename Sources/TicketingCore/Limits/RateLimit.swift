import FluentKit
import SQLKit

/// At most `limit` uses of a key per fixed window, counted in the service's database so that every replica shares
/// the count. A use is counted in the same statement that reads the count, before the work it guards, so that
/// simultaneous requests cannot all see the count from before any of them (check-then-act).
public struct RateLimit: Sendable {
    public var limit: Int
    public var window: Double

    public init(limit: Int, window: Double) {
        self.limit = limit
        self.window = window
    }

    public struct Use: Sendable, Equatable {
        /// Uses of the key in its window, this one included.
        public var count: Int
        /// Seconds until the window ends and the count starts again.
        public var retryAfter: Int
    }

    /// Counts `uses` more uses of `key` (a window that has passed starts again) and returns the new count.
    public func count(_ key: String, uses: Int = 1, on db: any SQLDatabase, now: Date = Date()) async throws -> Use {
        let nowMs = now.epochMilliseconds
        let windowStart = nowMs - Int64(window * 1_000)
        let row = try await db.raw("""
            INSERT INTO rate_limits (key, uses, window_started_ms) VALUES (\(bind: key), \(bind: uses), \(bind: nowMs))
            ON CONFLICT (key) DO UPDATE SET
              uses = CASE WHEN rate_limits.window_started_ms > \(bind: windowStart) THEN rate_limits.uses + \(bind: uses) ELSE \(bind: uses) END,
              window_started_ms = CASE WHEN rate_limits.window_started_ms > \(bind: windowStart)
                                  THEN rate_limits.window_started_ms ELSE \(bind: nowMs) END
            RETURNING uses, window_started_ms
            """).first()
        guard let row else { throw RateLimitMissing() }
        let started = try row.decode(column: "window_started_ms", as: Int64.self)
        let endsIn = Double(started - nowMs) / 1_000 + window
        return Use(count: try row.decode(column: "uses", as: Int.self), retryAfter: max(1, Int(endsIn.rounded(.up))))
    }

    /// Counts one use and throws a 429 with `message` when it is over the limit.
    public func take(_ key: String, on db: any SQLDatabase, refusing message: String, now: Date = Date()) async throws {
        let use = try await count(key, on: db, now: now)
        if use.count > limit { throw AppError.tooManyRequests(message, retryAfter: use.retryAfter) }
    }

    /// Takes back one counted use (it turned out not to be what the limit is about, such as a sign-in that succeeded).
    public func giveBack(_ key: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE rate_limits SET uses = uses - 1 WHERE key = \(bind: key) AND uses > 0").run()
    }

    /// Forgets the key's uses.
    public func reset(_ key: String, on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM rate_limits WHERE key = \(bind: key)").run()
    }
}

private struct RateLimitMissing: Error {}

public enum RateLimits {
    /// Deletes, hourly, the counts whose window ended more than `longestWindow` ago: they no longer limit anything.
    public static func pruning(longestWindow: Double, in service: ServiceContext) -> BackgroundWork {
        let (database, writes, logger) = (service.database, service.unitOfWork, service.logger)
        return BackgroundWork("rate limit pruning") {
            await repeatEvery(3_600, logger: logger, failure: "pruning rate limits failed") {
                let before = Date().addingTimeInterval(-longestWindow).epochMilliseconds
                try await writes.statement(on: database()) { db in
                    try await db.sql.raw("DELETE FROM rate_limits WHERE window_started_ms < \(bind: before)").run()
                }
            }
        }
    }
}

public struct CreateRateLimits: AsyncMigration {
    public init() {}

    public func prepare(on database: any Database) async throws {
        try await database.schema("rate_limits")
            .field("key", .string, .identifier(auto: false))
            .field("uses", .int, .required)
            .field("window_started_ms", .int64, .required)
            .create()
    }

    public func revert(on database: any Database) async throws {
        try await database.schema("rate_limits").delete()
    }
}

extension Request {
    /// The client's address: the ingress's `X-Real-IP` when present (nginx sets it and overwrites any client value),
    /// else the peer. Only an address is taken from the header: anything else in it counts as the peer's, so a
    /// malformed value can neither choose a fresh key nor escape the per-address limits.
    public var clientAddress: String? {
        if let header = headers.first(name: "X-Real-IP"),
           (2...45).contains(header.count), header.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) {
            return header
        }
        return remoteAddress?.ipAddress
    }
}
