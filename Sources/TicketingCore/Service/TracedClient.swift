import AsyncHTTPClient
import Vapor

/// Calls to other services and to Stripe through AsyncHTTPClient's async API, which makes each call a client span of
/// the current trace and sends that trace on (`traceparent`, `tracestate`). Vapor's `Client` goes through the
/// client's older API, which starts a span but sends no trace on, so the service called would begin a trace of its own.
public struct TracedClient: Sendable {
    let client: HTTPClient
    /// Longer than any answer these services or Stripe give: a body beyond it is a failure, never buffered whole.
    static let maxBody = 8 << 20

    public init(_ client: HTTPClient) {
        self.client = client
    }

    /// Sends `request` with its own timeout (`request.timeout`, else the client's configured ones).
    public func send(_ request: ClientRequest) async throws -> ClientResponse {
        var outgoing = HTTPClientRequest(url: request.url.string)
        outgoing.method = request.method
        outgoing.headers = request.headers
        if let body = request.body { outgoing.body = .bytes(body) }
        let response = try await client.execute(outgoing, timeout: request.timeout ?? .seconds(20))
        let body = try await response.body.collect(upTo: Self.maxBody)
        return ClientResponse(status: response.status, headers: response.headers, body: body.readableBytes == 0 ? nil : body)
    }
}

extension Application {
    /// The application's shared HTTP client (its timeouts set in wiring), traced.
    public var tracedClient: TracedClient {
        TracedClient(http.client.shared)
    }
}
