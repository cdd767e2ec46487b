import Foundation
import TicketingCore

/// The marketplace's API as the web front end calls it on a visitor's behalf: JSON in and out, with the visitor's
/// session cookie, so every rule (and every error message) is the services' own.
struct API: Sendable {
    let client: TracedClient
    let base: String

    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var body: ByteBuffer?
        var setCookies: [String]

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONDecoder().decode(T.self, from: body.map { Data(buffer: $0) } ?? Data())
        }

        /// The contract's error envelope, as plain messages for the page.
        var errors: [ErrorItem] {
            (try? decode(ErrorEnvelope.self).errors) ?? [ErrorItem(message: "Something went wrong, please try again")]
        }

        var isSuccess: Bool { (200..<300).contains(status.code) }
    }

    /// RFC 6265's cookie-octets, at most 1 KB.
    static func isCookieValue(_ value: String) -> Bool {
        value.utf8.count <= 1_024
            && value.utf8.allSatisfy { $0 == 0x21 || (0x23...0x2B).contains($0) || (0x2D...0x3A).contains($0) || (0x3C...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// A service that cannot be reached or answers 5xx: the page says so instead of failing obscurely.
    struct Unavailable: Error {}

    func send(_ method: HTTPMethod, _ path: String, as request: Request, json: (any Encodable & Sendable)? = nil) async throws -> Reply {
        var outgoing = ClientRequest(method: method, url: URI(string: base + path))
        // The visitor's session, and the device token the auth service counts sign-ins by (only well-formed values:
        // they go into a header).
        let cookies = [SessionCookie.name, "device"].compactMap { name -> String? in
            guard let value = RequestCookie.value(of: name, in: request.headers), Self.isCookieValue(value) else { return nil }
            return "\(name)=\(value)"
        }
        if !cookies.isEmpty { outgoing.headers.add(name: .cookie, value: cookies.joined(separator: "; ")) }
        outgoing.headers.add(name: .xRequestId, value: request.id)
        // Who the visitor is, for the services' per-address limits; the ingress's internal door passes it on.
        if let address = request.headers.first(name: "X-Real-IP") ?? request.remoteAddress?.ipAddress {
            outgoing.headers.add(name: "X-Real-IP", value: address)
        }
        if let json {
            outgoing.headers.contentType = .json
            outgoing.body = ByteBuffer(data: try JSONEncoder().encode(json))
        }
        outgoing.timeout = .seconds(20)
        let response: ClientResponse
        do {
            response = try await client.send(outgoing)
        } catch {
            request.logger.warning("API unreachable", metadata: ["path": "\(path)", "error": "\(error)"])
            throw Unavailable()
        }
        if response.status.code >= 500 {
            request.logger.warning("API failed", metadata: ["path": "\(path)", "status": "\(response.status.code)"])
            throw Unavailable()
        }
        return Reply(status: response.status, body: response.body, setCookies: response.headers[.setCookie])
    }
}

/// The contract's JSON shapes, as the pages read them.
struct TicketJSON: Codable, Sendable {
    var id: String
    var title: String
    var price: Decimal
    var userId: String
    var version: Int
    var orderId: String?
    var holderId: String?
    var resaleOf: String?
    var faceValue: Decimal?
    var resaleId: String?
}

struct OrderJSON: Codable, Sendable {
    struct Ticket: Codable, Sendable {
        var id: String
        var title: String
        var price: Decimal
    }

    var id: String
    var userId: String
    /// As sent: a status added to the contract after this page was written still shows, as its own word.
    var status: String
    var expiresAt: String
    var version: Int
    var ticket: Ticket
}

extension OrderJSON {
    var knownStatus: OrderStatus? { OrderStatus(rawValue: status) }
}

extension Decimal {
    /// A price as a buyer reads it: `$20.00`.
    var dollars: String {
        "$" + formatted(.number.precision(.fractionLength(2)).grouping(.automatic).locale(Locale(identifier: "en_US")))
    }
}
