import JWT
import SQLKit
import Vapor

/// Echoes the request id (taken from `X-Request-Id` when the ingress set one) so a client's report can be found in the
/// logs; only an id of the ingress's shape (at most 64 letters, digits and `-`) goes back into a header.
struct RequestIDMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        let id = request.id
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || Validate.isASCIIAlphanumeric($0) }) else {
            return response
        }
        response.headers.replaceOrAdd(name: .xRequestId, value: id)
        return response
    }
}

/// The last word on every response's headers, outside the error middleware so that error answers get it too:
/// `nosniff` (a body is only ever what its content type says), and a refusal of any header value holding CR, LF or
/// NUL. Values from a request are checked where they are used (see the web's `RedirectTarget`); this is the net
/// under that rule, so a value that slipped through becomes a 500 in the log, never a header an attacker wrote.
struct ResponseHeadersMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        var response = try await next.respond(to: request)
        if response.headers.contains(where: { $0.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 } }) {
            request.logger.error("refused a response header holding CR, LF or NUL", metadata: ["path": "\(request.url.path)"])
            response = ContractErrorMiddleware.response(for: .internalFailure)
        }
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        return response
    }
}
