import Leaf
import TicketingCore

/// The web front end: the seed's pages, rendered on the server from the other services' APIs.
public enum WebService {
    public static func configure(_ app: Application, _ config: TicketingConfig) async throws {
        try await app.configureTicketingService(config, database: false, errors: PageErrorMiddleware())
        app.middleware.use(CSRFMiddleware(secureCookie: config.secureCookies))
        app.views.use(.leaf)
        // Templates are read once and kept, as in production, unless running in development.
        app.leaf.cache.isEnabled = app.environment.isRelease || app.environment == .testing
        try app.register(collection: Pages(
            api: API(client: app.client, base: config.apiURL),
            stripeJSURL: config.stripeJSURL, stripePublishableKey: config.stripePublishableKey
        ))
    }
}
