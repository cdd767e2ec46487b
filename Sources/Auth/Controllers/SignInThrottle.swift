import SQLKit
import TicketingCore

/// Limits sign-in guessing without handing attackers a way to lock an owner out.
///
/// - Every attempt is counted before its password is checked, in the statement that reads the count, so N
///   simultaneous guesses are N counted guesses: at most `SIGNIN_LIMIT_PER_EMAIL` of them are ever checked.
///   A sign-in that succeeds gives its use back (and clears the email's count).
/// - Per email, attempts count against the account, unless the browser shows a device token: a signed cookie that
///   this service gave it at an earlier successful sign-in or sign-up to that account. Such attempts count against
///   that token instead, with the same limit. So a stranger who burns an email's attempts locks out only browsers
///   that never signed in to it; the owner's own browser still signs in, and a stolen device token buys no more
///   guesses than anyone gets.
/// - Per client address, every attempt counts against `SIGNIN_LIMIT_PER_ADDRESS`, generous because offices and
///   carriers share addresses; it stops one machine from guessing many accounts.
struct SignInThrottle: Sendable {
    let perEmail: RateLimit
    let perAddress: RateLimit

    init(_ limits: AbuseLimits) {
        perEmail = RateLimit(limit: limits.signInFailuresPerEmail, window: limits.signInWindow)
        perAddress = RateLimit(limit: limits.signInFailuresPerAddress, window: limits.signInWindow)
    }

    /// The keys one attempt counts against.
    struct Keys: Sendable {
        var email: String
        var device: String?
        var address: String?

        init(email: String, device: String?, address: String?) {
            self.email = "signin-email:" + email
            self.device = device.map { "signin-device:" + $0 }
            self.address = address.map { "signin-address:" + $0 }
        }

        var account: String { device ?? email }
    }

    /// Counts an attempt; throws 429 when either key is over its limit (the attempt is then not made).
    func admit(_ keys: Keys, on db: any SQLDatabase) async throws {
        let account = try await perEmail.count(keys.account, on: db)
        var address: RateLimit.Use?
        if let key = keys.address { address = try await perAddress.count(key, on: db) }
        if account.count > perEmail.limit || (address?.count ?? 0) > perAddress.limit {
            throw AppError.tooManyRequests(
                "Too many failed sign-in attempts, try again later",
                retryAfter: max(
                    account.count > perEmail.limit ? account.retryAfter : 0,
                    (address?.count ?? 0) > perAddress.limit ? address?.retryAfter ?? 0 : 0
                )
            )
        }
    }

    /// A successful sign-in was no guess: its use is given back, and the failures it was counted with are forgiven.
    /// Only those: the owner signing in from their own browser does not give a stranger new guesses at the email.
    func succeeded(_ keys: Keys, on db: any SQLDatabase) async throws {
        try await perEmail.reset(keys.account, on: db)
        if let address = keys.address { try await perAddress.giveBack(address, on: db) }
    }
}
