import Foundation

/// The subjects of CONTRACT.md section 5, named as the seed named them.
public enum Subject: String, CaseIterable, Codable, Sendable {
    case ticketCreated = "ticket:created"
    case ticketUpdated = "ticket:updated"
    case orderCreated = "order:created"
    case orderCancelled = "order:cancelled"
    case expirationComplete = "expiration:complete"
    case paymentCreated = "payment:created"
    /// A session ended by sign-out before its token expired (not in the seed: it let a copied cookie live on).
    case sessionRevoked = "session:revoked"
}

/// What an event changes where it is applied, named for people ("order 5f0c…"), and the version it brings it to
/// if its subject is versioned.
struct EventEntity: Sendable, Equatable {
    var name: String
    var version: Int?
}

extension Subject {
    /// The entity of an event of this subject: the ticket of `ticket:*`, the order of `order:*`,
    /// `expiration:complete` and `payment:created`, the session of `session:revoked`. Nil when the payload does not
    /// say.
    func entity(in payload: Data) -> EventEntity? {
        let (noun, key): (String, String) = switch self {
        case .ticketCreated, .ticketUpdated: ("ticket", "id")
        case .orderCreated, .orderCancelled: ("order", "id")
        case .expirationComplete, .paymentCreated: ("order", "orderId")
        case .sessionRevoked: ("session", "sessionId")
        }
        guard let fields = try? JSONSerialization.jsonObject(with: payload) as? [String: Any], let id = fields[key] as? String else { return nil }
        return EventEntity(name: "\(noun) \(id.prefix(64))", version: fields["version"] as? Int)
    }
}

/// The queue groups: every replica of a service consumes through its group's durable consumers.
public enum QueueGroup {
    public static let tickets = "tickets-service"
    public static let orders = "orders-service"
    public static let expiration = "expiration-service"
    public static let payments = "payments-service"
}

/// An event's payload; its JSON is exactly the contract's `data` object.
public protocol Event: Codable, Sendable {
    static var subject: Subject { get }
}

public enum OrderStatus: String, Codable, Sendable, CaseIterable {
    case created
    case cancelled
    case awaitingPayment = "awaiting:payment"
    case complete
}

public struct TicketCreatedEvent: Event, Equatable {
    public static let subject = Subject.ticketCreated
    public var id: String
    public var version: Int
    public var title: String
    public var price: Money
    public var userId: String
    /// Present on a holder's resale listing: the id of the ticket it resells (CONTRACT.md section 7).
    public var resaleOf: String?

    public init(id: String, version: Int, title: String, price: Money, userId: String, resaleOf: String? = nil) {
        self.id = id
        self.version = version
        self.title = title
        self.price = price
        self.userId = userId
        self.resaleOf = resaleOf
    }
}

public struct TicketUpdatedEvent: Event, Equatable {
    public static let subject = Subject.ticketUpdated
    public var id: String
    public var version: Int
    public var title: String
    public var price: Money
    public var userId: String
    /// Present while an order holds the ticket.
    public var orderId: String?
    /// Present once the order's payment made its buyer the ticket's holder (CONTRACT.md section 7).
    public var holderId: String?
    /// True once the listing was withdrawn (by its owner, or at the door as its holder checked in): no longer for
    /// sale, and no order may hold it.
    public var withdrawn: Bool?
    /// True once a resale of the ticket was paid: its holder's pass is void, the resale's buyer holds the new ticket.
    public var resold: Bool?

    public init(
        id: String, version: Int, title: String, price: Money, userId: String, orderId: String?, holderId: String? = nil,
        withdrawn: Bool? = nil, resold: Bool? = nil
    ) {
        self.id = id
        self.version = version
        self.title = title
        self.price = price
        self.userId = userId
        self.orderId = orderId
        self.holderId = holderId
        self.withdrawn = withdrawn
        self.resold = resold
    }
}

public struct OrderCreatedEvent: Event, Equatable {
    public static let subject = Subject.orderCreated
    public struct Ticket: Codable, Equatable, Sendable {
        public var id: String
        public var price: Money

        public init(id: String, price: Money) {
            self.id = id
            self.price = price
        }
    }

    public var id: String
    public var version: Int
    public var status: OrderStatus
    public var userId: String
    /// ISO 8601 in UTC with milliseconds, as the seed's `toISOString()` wrote it.
    public var expiresAt: String
    public var ticket: Ticket

    public init(id: String, version: Int, status: OrderStatus, userId: String, expiresAt: String, ticket: Ticket) {
        self.id = id
        self.version = version
        self.status = status
        self.userId = userId
        self.expiresAt = expiresAt
        self.ticket = ticket
    }
}

public struct OrderCancelledEvent: Event, Equatable {
    public static let subject = Subject.orderCancelled
    public struct Ticket: Codable, Equatable, Sendable {
        public var id: String

        public init(id: String) {
            self.id = id
        }
    }

    public var id: String
    public var version: Int
    public var ticket: Ticket

    public init(id: String, version: Int, ticket: Ticket) {
        self.id = id
        self.version = version
        self.ticket = ticket
    }
}

public struct ExpirationCompleteEvent: Event, Equatable {
    public static let subject = Subject.expirationComplete
    public var orderId: String

    public init(orderId: String) {
        self.orderId = orderId
    }
}

public struct PaymentCreatedEvent: Event, Equatable {
    public static let subject = Subject.paymentCreated
    public var id: String
    public var orderId: String
    public var stripeId: String

    public init(id: String, orderId: String, stripeId: String) {
        self.id = id
        self.orderId = orderId
        self.stripeId = stripeId
    }
}

public struct SessionRevokedEvent: Event, Equatable {
    public static let subject = Subject.sessionRevoked
    /// `SignedToken.id(_:)` of the signed-out token, never the token itself.
    public var sessionId: String
    /// When the token would have expired: after that the revocation can be forgotten.
    public var expiresAt: String

    public init(sessionId: String, expiresAt: String) {
        self.sessionId = sessionId
        self.expiresAt = expiresAt
    }
}

/// Timestamps as the contract writes them: `2026-11-22T10:15:00.000Z`.
public enum ISOTimestamp {
    public static func string(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    public static func date(_ string: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt).parse(string))
            ?? (try? Date.ISO8601FormatStyle(timeZone: .gmt).parse(string))
    }
}

extension Date {
    /// Milliseconds since 1970: how services store instants they compare in SQL, the same on SQLite and PostgreSQL.
    public var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1_000).rounded()) }

    public init(epochMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1_000)
    }
}

extension Event {
    /// Compact JSON with stable key order, so the same event always has the same bytes.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
