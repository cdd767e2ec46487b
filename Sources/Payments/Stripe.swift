import Foundation
import NIOCore
import TicketingCore

/// The calls of Stripe's API this service makes. `StripeClient` makes them over HTTP; tests wrap it to stall or fail
/// a call on command, which is how they show what a stalled or failing Stripe does to a charge or a refund.
protocol StripeAPI: Sendable {
    func createCustomer(source token: String, metadata: [String: String], idempotencyKey: String) async throws -> StripeClient.Customer
    func createPaymentIntent(
        cents: Int64, currency: String, paymentMethod: String, customer: String?, metadata: [String: String], idempotencyKey: String
    ) async throws -> StripeClient.PaymentIntent
    func confirm(_ intentID: String, idempotencyKey: String) async throws -> StripeClient.PaymentIntent
    func cancel(_ intentID: String, idempotencyKey: String) async throws -> StripeClient.PaymentIntent
    func refund(_ intentID: String, metadata: [String: String], idempotencyKey: String) async throws -> StripeClient.Refund
    func paymentIntent(_ intentID: String) async throws -> StripeClient.PaymentIntent
}

/// The few calls of the Stripe REST API this service makes, in Stripe's own wire format: form-encoded requests,
/// JSON answers, the secret key as a bearer token, and an `Idempotency-Key` on every call that creates or charges.
struct StripeClient: StripeAPI {
    let client: TracedClient
    let base: String
    let key: String
    var timeout: TimeAmount = .seconds(15)

    /// What this service needs of a PaymentIntent.
    struct PaymentIntent: Decodable, Sendable {
        var id: String
        var status: IntentStatus
        var amount: Int64
    }

    /// A PaymentIntent's `status`, as Stripe names it. One Stripe adds later reads as `other`, which this service
    /// treats as still undecided.
    enum IntentStatus: Decodable, Sendable, Equatable {
        case succeeded, processing, canceled
        case requiresPaymentMethod, requiresConfirmation, requiresAction, requiresCapture
        case other(String)

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer().decode(String.self)
            self = switch value {
            case "succeeded": .succeeded
            case "processing": .processing
            case "canceled": .canceled
            case "requires_payment_method": .requiresPaymentMethod
            case "requires_confirmation": .requiresConfirmation
            case "requires_action": .requiresAction
            case "requires_capture": .requiresCapture
            default: .other(value)
            }
        }
    }

    struct Customer: Decodable, Sendable {
        var id: String
        var default_source: String?
    }

    /// An error answer from Stripe. A 402 is a card the bank refused; its message is meant for the buyer.
    struct Failure: Error, CustomStringConvertible {
        var status: UInt
        var message: String
        var code: String?
        var isDecline: Bool { status == 402 }
        var description: String { "Stripe answered \(status): \(message)" }
    }

    private struct ErrorBody: Decodable {
        struct Detail: Decodable {
            var message: String?
            var code: String?
        }
        var error: Detail
    }

    /// A card token cannot be charged on its own; a customer holding it as their card can, there and on Stripe.
    func createCustomer(source token: String, metadata: [String: String], idempotencyKey: String) async throws -> Customer {
        try await post("/v1/customers", ["source": token] + Self.metadata(metadata), idempotencyKey: idempotencyKey)
    }

    func createPaymentIntent(
        cents: Int64, currency: String, paymentMethod: String, customer: String?, metadata: [String: String], idempotencyKey: String
    ) async throws -> PaymentIntent {
        var form = ["amount": String(cents), "currency": currency, "payment_method": paymentMethod]
        form["customer"] = customer
        return try await post("/v1/payment_intents", form + Self.metadata(metadata), idempotencyKey: idempotencyKey)
    }

    func confirm(_ intentID: String, idempotencyKey: String) async throws -> PaymentIntent {
        try await post("/v1/payment_intents/\(intentID)/confirm", [:], idempotencyKey: idempotencyKey)
    }

    func cancel(_ intentID: String, idempotencyKey: String) async throws -> PaymentIntent {
        try await post("/v1/payment_intents/\(intentID)/cancel", [:], idempotencyKey: idempotencyKey)
    }

    struct Refund: Decodable, Sendable {
        var id: String
    }

    func refund(_ intentID: String, metadata: [String: String], idempotencyKey: String) async throws -> Refund {
        try await post("/v1/refunds", ["payment_intent": intentID] + Self.metadata(metadata), idempotencyKey: idempotencyKey)
    }

    func paymentIntent(_ intentID: String) async throws -> PaymentIntent {
        try await send(ClientRequest(method: .GET, url: URI(string: base + "/v1/payment_intents/\(intentID)"), headers: headers()))
    }

    private static func metadata(_ values: [String: String]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: values.map { ("metadata[\($0.key)]", $0.value) })
    }

    private func headers(idempotencyKey: String? = nil) -> HTTPHeaders {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(key)"]
        if let idempotencyKey { headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        return headers
    }

    private func post<T: Decodable>(_ path: String, _ form: [String: String], idempotencyKey: String) async throws -> T {
        var request = ClientRequest(method: .POST, url: URI(string: base + path), headers: headers(idempotencyKey: idempotencyKey))
        request.headers.contentType = .urlEncodedForm
        request.body = ByteBuffer(string: Self.formEncode(form))
        return try await send(request)
    }

    private func send<T: Decodable>(_ request: ClientRequest) async throws -> T {
        var request = request
        request.timeout = timeout
        let response = try await client.send(request)
        let body = response.body.map { Data(buffer: $0) } ?? Data()
        guard (200..<300).contains(response.status.code) else {
            let detail = (try? JSONDecoder().decode(ErrorBody.self, from: body))?.error
            throw Failure(status: response.status.code, message: detail?.message ?? response.status.reasonPhrase, code: detail?.code)
        }
        return try JSONDecoder().decode(T.self, from: body)
    }

    /// `application/x-www-form-urlencoded` as Stripe reads it, keys sorted so a request has one spelling.
    static func formEncode(_ form: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return form.sorted { $0.key < $1.key }.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }
}

private func + (lhs: [String: String], rhs: [String: String]) -> [String: String] {
    lhs.merging(rhs) { $1 }
}
