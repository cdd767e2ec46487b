import Leaf
import TicketingCore

/// The web front end: the seed's pages, rendered on the server from the other services' APIs, and the API's reference.
public enum WebService {
    public static func configure(_ app: Application, _ config: TicketingConfig) async throws {
        // Read first: a broken API description stops the start, instead of breaking /docs later.
        let reference = try APIReference(path: config.openAPIPath ?? app.directory.workingDirectory + "openapi.yaml")
        try await app.configureTicketingService(
            config, database: false, errors: PageErrorMiddleware(),
            outsideErrors: [PageHeadersMiddleware(stripeJSURL: config.stripeJSURL, secure: config.secureCookies)]
        )
        // The site's own style sheet and script, so the pages need no inline code.
        app.middleware.use(FileMiddleware(publicDirectory: app.directory.resourcesDirectory + "Public/"))
        let api = API(client: app.client, base: config.apiURL)
        app.middleware.use(SessionStillValidMiddleware(api: api))
        app.csrf = CSRF(secret: config.jwtKey)
        app.middleware.use(CSRFMiddleware(secureCookie: config.secureCookies))
        app.views.use(.leaf)
        // Templates are read once and kept, as in production, unless running in development.
        app.leaf.cache.isEnabled = app.environment.isRelease || app.environment == .testing
        try app.register(collection: Pages(
            api: api,
            stripeJSURL: config.stripeJSURL, stripePublishableKey: config.stripePublishableKey
        ))
        try app.register(collection: reference)
    }
}
