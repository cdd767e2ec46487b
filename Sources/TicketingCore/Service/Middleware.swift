import JWT
import SQLKit
import Tracing
import Vapor

/// The outermost middleware, one rather than three: Vapor runs every async middleware in a task of its own, and on the
/// trivial baseline route three such tasks cost about a tenth of its throughput (`benchmarks/load/run`). Around
/// everything, the request's server span; on the way out, the request id and the last word on the headers, errors
/// included (the error middleware is inside).
struct EdgeMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        try await ServerSpan.around(request) {
            let response = try await next.respond(to: request)
            RequestID.echo(request, on: response)
            return ResponseHeaders.checked(response, for: request)
        }
    }
}

/// The server span of every request, continuing the trace its `traceparent` carries (the internal door passes the
/// web's on; the front door drops a visitor's), with the HTTP semantic conventions' attributes and the request id.
///
/// Vapor's `TracingMiddleware` does the same but computes its attributes for every request; here they are computed only
/// for a span that is recorded, so a service that samples nothing (no collector) pays for little more than the ids.
enum ServerSpan {
    static func around(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        let tracer = InstrumentationSystem.tracer
        var context = request.serviceContext
        tracer.extract(request.headers, into: &context, using: HeaderExtractor())
        let name = request.route?.description ?? "\(request.method.rawValue) (no route)"
        return try await tracer.withAnySpan(name, context: context, ofKind: .server) { span in
            request.serviceContext = span.context
            defer { request.serviceContext = context }
            if span.isRecording {
                span.updateAttributes { attributes in
                    attributes["http.request.method"] = request.method.rawValue
                    attributes["url.path"] = request.url.path
                    if let route = request.route { attributes["http.route"] = "/" + route.path.map(\.description).joined(separator: "/") }
                    attributes["client.address"] = request.headers.first(name: "X-Real-IP") ?? request.remoteAddress?.ipAddress
                    attributes["user_agent.original"] = request.headers.first(name: .userAgent)
                    attributes["ticketing.request_id"] = request.id
                }
            }
            let response = try await body()
            if span.isRecording { span.attributes["http.response.status_code"] = Int(response.status.code) }
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    private struct HeaderExtractor: Extractor {
        func extract(key: String, from headers: HTTPHeaders) -> String? {
            headers.first(name: key)
        }
    }
}

/// Echoes the request id (taken from `X-Request-Id` when the ingress set one) so a client's report can be found in the
/// logs; only an id of the ingress's shape (at most 64 letters, digits and `-`) goes back into a header.
enum RequestID {
    static func echo(_ request: Request, on response: Response) {
        let id = request.id
        guard (1...64).contains(id.utf8.count), id.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || Validate.isASCIIAlphanumeric($0) }) else {
            return
        }
        response.headers.replaceOrAdd(name: .xRequestId, value: id)
    }
}

/// The last word on every response's headers: `nosniff` (a body is only ever what its content type says), and a
/// refusal of any header value holding CR, LF or NUL. Values from a request are checked where they are used (see the
/// web's `RedirectTarget`); this is the net under that rule, so a value that slipped through becomes a 500 in the log,
/// never a header an attacker wrote.
enum ResponseHeaders {
    static func checked(_ response: Response, for request: Request) -> Response {
        var response = response
        if response.headers.contains(where: { $0.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 } }) {
            request.logger.error("refused a response header holding CR, LF or NUL", metadata: ["path": "\(request.url.path)"])
            response = ContractErrorMiddleware.response(for: .internalFailure)
        }
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        return response
    }
}
