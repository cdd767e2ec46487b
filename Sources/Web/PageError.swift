import TicketingCore

/// What a visitor can be shown instead of the page they asked for.
struct PageError: Error {
    var status: HTTPResponseStatus
    var title: String
    var message: String

    static let notFound = PageError(status: .notFound, title: "Page not found",
                                    message: "There is nothing at this address. It may have been sold, or the link is wrong.")
    static let forbidden = PageError(status: .forbidden, title: "Form expired",
                                     message: "This form could not be accepted. Go back, reload the page and try again.")
    static let unavailable = PageError(status: .serviceUnavailable, title: "Temporarily unavailable",
                                       message: "Part of the marketplace is not answering right now. Please try again in a minute.")
    static let broken = PageError(status: .internalServerError, title: "Something went wrong",
                                  message: "Something went wrong on our side. Please try again.")
}

/// Renders every failure as a page of the site, never as a stack trace: unknown pages are a friendly 404,
/// a service that is down is a clear 503.
struct PageErrorMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let page: PageError
            switch error {
            case let error as PageError: page = error
            case is API.Unavailable: page = .unavailable
            case let error as any AbortError where error.status == .notFound: page = .notFound
            default:
                request.logger.error("page failed", metadata: ["error": "\(String(reflecting: error))"])
                page = .broken
            }
            let view = try await request.view.render("error", Pages.context(request, ["title": page.title, "message": page.message]))
            return try await view.encodeResponse(status: page.status, for: request)
        }
    }
}
