import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Everything a service reads from its environment (CONTRACT.md section 6), resolved once at start.
public struct TicketingConfig: Sendable {
    public var service: String
    public var dataDirectory: String
    public var jwtKey: String
    public var databaseURL: String
    public var natsURL: String
    /// Copies of the event stream the JetStream cluster keeps (3 in production).
    public var streamReplicas: Int
    public var expirationWindowSeconds: Int
    public var stripeKey: String
    public var stripeAPIBase: String
    /// The web front end's view of Stripe: the publishable key and where the browser loads Stripe.js from.
    public var stripePublishableKey: String
    public var stripeJSURL: String
    /// Where the web front end sends its server-side API calls: the ingress, or the services behind it.
    public var apiURL: String
    /// The API description the web front end shows at /docs; nil for `openapi.yaml` in the working directory.
    public var openAPIPath: String?
    public var secureCookies: Bool
    public var sessionLifetimeSeconds: Int
    public var bcryptCost: Int
    public var limits: AbuseLimits
    /// The tickets service's Ed25519 key for passes, as 64 hex digits of seed (`PASS_SIGNING_KEY`); nil locally,
    /// where the service keeps one in the data directory.
    public var passSigningKey: String?
    /// The most a holder may ask for a ticket they resell, as a percentage of what they paid
    /// (`RESALE_PRICE_CAP_PERCENT`, default 100: face value).
    public var resalePriceCapPercent: Int

    public init(
        service: String,
        dataDirectory: String = ".data",
        jwtKey: String,
        databaseURL: String,
        natsURL: String = "nats://127.0.0.1:4222",
        streamReplicas: Int = 1,
        expirationWindowSeconds: Int = 900,
        stripeKey: String = "sk_test_local",
        stripeAPIBase: String = "http://127.0.0.1:8420",
        stripePublishableKey: String = "pk_test_local",
        stripeJSURL: String? = nil,
        apiURL: String = "http://127.0.0.1:8080",
        openAPIPath: String? = nil,
        secureCookies: Bool = false,
        sessionLifetimeSeconds: Int = 7 * 86_400,
        bcryptCost: Int = 12,
        limits: AbuseLimits = AbuseLimits(),
        passSigningKey: String? = nil,
        resalePriceCapPercent: Int = 100
    ) {
        self.service = service
        self.dataDirectory = dataDirectory
        self.jwtKey = jwtKey
        self.databaseURL = databaseURL
        self.natsURL = natsURL
        self.streamReplicas = streamReplicas
        self.expirationWindowSeconds = expirationWindowSeconds
        self.stripeKey = stripeKey
        self.stripeAPIBase = stripeAPIBase
        self.stripePublishableKey = stripePublishableKey
        // The local emulator serves a Stripe.js stand-in under this path; production points it at Stripe's own.
        self.stripeJSURL = stripeJSURL ?? stripeAPIBase + "/js.stripe.com/v3/"
        self.apiURL = apiURL
        self.openAPIPath = openAPIPath
        self.secureCookies = secureCookies
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.bcryptCost = bcryptCost
        self.limits = limits
        self.passSigningKey = passSigningKey
        self.resalePriceCapPercent = resalePriceCapPercent
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the environment; local defaults keep `scripts/dev` free of configuration.
    public static func fromEnvironment(
        service: String,
        _ env: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> TicketingConfig {
        func value(_ key: String) -> String? {
            env[key].flatMap { $0.isEmpty ? nil : $0 }
        }
        func integer(_ key: String, _ fallback: Int, range: ClosedRange<Int>) throws -> Int {
            guard let raw = value(key) else { return fallback }
            guard let number = Int(raw), range.contains(number) else {
                throw Invalid(description: "\(key) must be a whole number in \(range), got '\(raw)'")
            }
            return number
        }
        let dataDirectory = value("TICKETING_DATA_DIR") ?? ".data"
        let jwtKey = try value("JWT_KEY") ?? LocalSecret.load(named: "jwt-key", in: dataDirectory)
        guard jwtKey.utf8.count >= 32 else {
            throw Invalid(description: "JWT_KEY must be at least 32 bytes (HS256 needs a key as long as its digest)")
        }
        return TicketingConfig(
            service: service,
            dataDirectory: dataDirectory,
            jwtKey: jwtKey,
            databaseURL: value("DATABASE_URL") ?? "sqlite://\(dataDirectory)/\(service).sqlite",
            natsURL: value("NATS_URL") ?? "nats://127.0.0.1:4222",
            streamReplicas: try integer("NATS_STREAM_REPLICAS", 1, range: 1...5),
            expirationWindowSeconds: try integer("EXPIRATION_WINDOW_SECONDS", 900, range: 1...86_400 * 30),
            stripeKey: value("STRIPE_KEY") ?? "sk_test_local",
            stripeAPIBase: value("STRIPE_API_BASE") ?? "http://127.0.0.1:8420",
            stripePublishableKey: value("STRIPE_PUBLISHABLE_KEY") ?? "pk_test_local",
            stripeJSURL: value("STRIPE_JS_URL"),
            apiURL: value("TICKETING_API_URL") ?? "http://127.0.0.1:\(value("TICKETING_PORT") ?? "8080")",
            openAPIPath: value("OPENAPI_PATH"),
            secureCookies: ["1", "true", "yes"].contains(value("COOKIE_SECURE")?.lowercased() ?? "false"),
            sessionLifetimeSeconds: try integer("SESSION_LIFETIME_SECONDS", 7 * 86_400, range: 60...86_400 * 365),
            bcryptCost: try integer("BCRYPT_COST", 12, range: 4...31),
            limits: AbuseLimits(
                signInFailuresPerEmail: try integer("SIGNIN_LIMIT_PER_EMAIL", AbuseLimits.defaults.signInFailuresPerEmail, range: 1...1_000_000),
                signInFailuresPerAddress: try integer("SIGNIN_LIMIT_PER_ADDRESS", AbuseLimits.defaults.signInFailuresPerAddress, range: 1...1_000_000),
                signUpsPerAddress: try integer("SIGNUP_LIMIT", AbuseLimits.defaults.signUpsPerAddress, range: 1...1_000_000),
                ordersPerUser: try integer("ORDER_LIMIT", AbuseLimits.defaults.ordersPerUser, range: 1...1_000_000),
                activeOrdersPerUser: try integer("ACTIVE_ORDERS_PER_USER", AbuseLimits.defaults.activeOrdersPerUser, range: 1...1_000_000),
                verificationsPerAddress: try integer("VERIFY_LIMIT", AbuseLimits.defaults.verificationsPerAddress, range: 1...1_000_000)
            ),
            passSigningKey: value("PASS_SIGNING_KEY"),
            resalePriceCapPercent: try integer("RESALE_PRICE_CAP_PERCENT", 100, range: 1...10_000)
        )
    }
}

/// How often one visitor may do what an attacker would do at scale (CONTRACT.md section 6). Each is a count per
/// fixed window, kept in the service's database so that every replica sees the same counts.
public struct AbuseLimits: Sendable, Equatable {
    /// Failed sign-ins for one email per `signInWindow` (`SIGNIN_LIMIT_PER_EMAIL`); a browser that signed in to
    /// that account before is counted on its own (see the auth service), so the limit cannot lock the owner out.
    public var signInFailuresPerEmail: Int
    /// Failed sign-ins from one client address per `signInWindow` (`SIGNIN_LIMIT_PER_ADDRESS`): generous, since many
    /// people can share one address (an office, a carrier's NAT).
    public var signInFailuresPerAddress: Int
    /// Sign-ups from one client address per `signUpWindow` (`SIGNUP_LIMIT`).
    public var signUpsPerAddress: Int
    /// Orders one user may create per `orderWindow` (`ORDER_LIMIT`).
    public var ordersPerUser: Int
    /// Reservations (orders awaiting payment) one buyer may hold at once (`ACTIVE_ORDERS_PER_USER`).
    public var activeOrdersPerUser: Int
    /// Passes one client address may verify per `verifyWindow` (`VERIFY_LIMIT`): a door scans often, a forger
    /// guessing codes far more.
    public var verificationsPerAddress: Int

    public var signInWindow: Double = 15 * 60
    public var signUpWindow: Double = 60 * 60
    public var orderWindow: Double = 10 * 60
    public var verifyWindow: Double = 60

    public static let defaults = AbuseLimits()

    public init(
        signInFailuresPerEmail: Int = 5,
        signInFailuresPerAddress: Int = 100,
        signUpsPerAddress: Int = 20,
        ordersPerUser: Int = 20,
        activeOrdersPerUser: Int = 5,
        verificationsPerAddress: Int = 120
    ) {
        self.signInFailuresPerEmail = signInFailuresPerEmail
        self.signInFailuresPerAddress = signInFailuresPerAddress
        self.signUpsPerAddress = signUpsPerAddress
        self.ordersPerUser = ordersPerUser
        self.activeOrdersPerUser = activeOrdersPerUser
        self.verificationsPerAddress = verificationsPerAddress
    }
}

/// A secret generated once per checkout and kept in the data directory, so local runs need no setup
/// and every local service shares it. Deployments set the variable instead.
public enum LocalSecret {
    public static func load(named name: String, in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        // Written to a private temporary file, then linked into place: link(2) fails if the name exists,
        // so services starting at the same moment all end up with the first one's key, never a half-written one.
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let temporary = path + ".\(ProcessInfo.processInfo.processIdentifier).tmp"
        if FileManager.default.createFile(
            atPath: temporary, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]
        ) {
            _ = link(temporary, path)
            _ = unlink(temporary)
        }
        let stored = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !stored.isEmpty else { throw TicketingConfig.Invalid(description: "\(path) is empty") }
        return stored
    }
}
