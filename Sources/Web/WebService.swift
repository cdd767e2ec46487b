import Leaf
import TicketingCore

extension ServiceDefinition {
    /// The web front end: the seed's pages, rendered on the server from the other services' APIs, and the API's
    /// reference. It has no database and answers errors with pages rather than the JSON envelope.
    public static let web = ServiceDefinition(
        name: "web", defaultPort: 4000, routes: ["/"], migrations: nil,
        errors: { config in
            ErrorHandling(errors: PageErrorMiddleware(),
                          outside: [PageHeadersMiddleware(stripeJSURL: config.stripeJSURL, secure: config.secureCookies)])
        }
    ) { service in
        let (app, config) = (service.app, service.config)
        // Read first: a broken API description stops the start, instead of breaking /docs later.
        let reference = try APIReference(path: config.openAPIPath ?? app.directory.workingDirectory + "openapi.yaml")
        let api = API(client: app.tracedClient, base: config.apiURL)
        app.csrf = CSRF(secret: config.jwtKey)
        app.views.use(.leaf)
        // Templates are read once and kept, as in production, unless running in development.
        app.leaf.cache.isEnabled = app.environment.isRelease || app.environment == .testing
        return ServiceParts(
            middleware: [
                // The site's own style sheet and script, so the pages need no inline code.
                FileMiddleware(publicDirectory: app.directory.resourcesDirectory + "Public/"),
                SessionStillValidMiddleware(api: api),
                CSRFMiddleware(secureCookie: config.secureCookies),
            ],
            routes: [
                Pages(api: api, stripeJSURL: config.stripeJSURL, stripePublishableKey: config.stripePublishableKey),
                reference,
            ]
        )
    }
}
