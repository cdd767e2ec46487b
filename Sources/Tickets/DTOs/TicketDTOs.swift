import Foundation
import SQLKit
import TicketingCore

/// The body of POST and PUT. Fields are optional so that missing ones become the contract's field errors.
struct TicketInput: Decodable {
    var title: String?
    var price: PriceInput?
}

/// A price as sent: a JSON number, or the same number as a string (the seed's client sent form values as strings).
/// Either is read whole and exactly: a string is plain decimal text or nothing (see `Money(plain:)`).
enum PriceInput: Decodable {
    case amount(Money)
    case tooPrecise
    case unreadable

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Decimal.self) {
            self = Money(dollars: number).map(PriceInput.amount) ?? .tooPrecise
        } else if let text = try? container.decode(String.self) {
            // Plain decimal text with too many decimals is a number the seller meant, just too precise.
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let isDecimal = parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }
            self = Money(plain: Substring(text)).map(PriceInput.amount) ?? (isDecimal ? .tooPrecise : .unreadable)
        } else {
            self = .unreadable
        }
    }
}

struct ValidTicket {
    var title: String
    var price: Money

    static let maxPrice = Money(cents: 100_000_000)
    static let maxTitleCharacters = 200
    /// Four bytes per character: room for any 200 characters of ordinary text, none for a character buried under
    /// thousands of combining marks.
    static let maxTitleBytes = 800

    init(_ input: TicketInput) throws {
        var errors = FieldErrors()
        var title = ""
        do {
            title = try CleanText(input.title, maxCharacters: Self.maxTitleCharacters, maxBytes: Self.maxTitleBytes).value
        } catch .empty {
            errors.add("title", "Title is required")
        } catch .tooLong {
            errors.add("title", "Title must be at most \(Self.maxTitleCharacters) characters")
        } catch .forbiddenCharacter {
            errors.add("title", "Title must not contain control or text-direction characters")
        }
        let price = Self.price(input.price, errors: &errors)
        try errors.throwIfAny()
        self.title = title
        self.price = price!
    }

    /// A price as a listing takes it (a new ticket, an edit, a resale): more than 0, at most `maxPrice`, in cents.
    static func price(_ input: PriceInput?, errors: inout FieldErrors) -> Money? {
        switch input {
        case .amount(let money) where money.cents > 0:
            if money > maxPrice { errors.add("price", "Price must be at most 1000000") } else { return money }
        case .tooPrecise:
            errors.add("price", "Price must have at most 2 decimals")
        case .amount, .unreadable, nil:
            errors.add("price", "Price must be greater than 0")
        }
        return nil
    }
}

/// The body of a resale: the price asked.
struct ResaleInput: Decodable {
    var price: PriceInput?
}

/// Ticket JSON: `{id, title, price, userId, version, orderId?, holderId?, resaleOf?, faceValue?, resaleId?}`.
struct TicketResponse: Content {
    var id: String
    var title: String
    var price: Money
    var userId: String
    var version: Int
    var orderId: String?
    var holderId: String?
    /// On a resale listing: the ticket it resells and what that ticket's holder paid.
    var resaleOf: String?
    var faceValue: Money?
    /// On a held ticket: its resale listing, while one is for sale, reserved or sold.
    var resaleId: String?

    init(id: String, title: String, price: Money, userId: String, version: Int, resaleOf: String?, faceValue: Money?) {
        self.id = id
        self.title = title
        self.price = price
        self.userId = userId
        self.version = version
        self.resaleOf = resaleOf
        self.faceValue = faceValue
    }

    init(_ ticket: Ticket, resaleId: UUID? = nil) throws {
        id = try ticket.requireID().uuidString.lowercased()
        title = ticket.title
        price = ticket.price
        userId = ticket.userId
        version = ticket.version
        orderId = ticket.orderId
        holderId = ticket.holderId
        resaleOf = ticket.resaleOf?.uuidString.lowercased()
        faceValue = ticket.faceValueCents.map(Money.init(cents:))
        self.resaleId = resaleId?.uuidString.lowercased()
    }

    /// The tickets as JSON, each held one with its resale listing if it has one.
    static func list(_ tickets: [Ticket], on db: any Database) async throws -> [TicketResponse] {
        let resales = try await Ticket.resales(of: tickets.filter { $0.holderId != nil }.compactMap(\.id), on: db)
        return try tickets.map { try TicketResponse($0, resaleId: $0.id.flatMap { resales[$0] }) }
    }
}

/// Tickets on sale, as the listing reads them: only the columns their JSON shows (an unreserved ticket has no order
/// nor holder), decoded from the row as they are. Decoding the whole model, through its property wrappers and
/// reflection, took half the listing's CPU.
enum ListedTicket {
    static let columns = "id, title, price_cents, user_id, version, resale_of, face_value_cents"

    /// Column by column: a Decodable row went through key conversion and a keyed container for every field, which
    /// cost as much again.
    static func response(_ row: any SQLRow) throws -> TicketResponse {
        TicketResponse(
            id: try row.decode(column: "id", as: UUID.self).uuidString.lowercased(),
            title: try row.decode(column: "title", as: String.self),
            price: Money(cents: try row.decode(column: "price_cents", as: Int64.self)),
            userId: try row.decode(column: "user_id", as: String.self),
            version: try row.decode(column: "version", as: Int.self),
            resaleOf: try row.decode(column: "resale_of", as: UUID?.self)?.uuidString.lowercased(),
            faceValue: try row.decode(column: "face_value_cents", as: Int64?.self).map(Money.init(cents:))
        )
    }

    /// The page as `TicketResponse`'s JSON array, the same fields as its `Encodable` form gives.
    static func json(_ page: [TicketResponse]) -> ByteBuffer {
        var text = JSONText(capacity: 64 + page.count * 256)
        text.array { text in
            for ticket in page {
                text.object { text in
                    text.field("id", ticket.id)
                    text.field("title", ticket.title)
                    text.field("price", number: ticket.price.jsonNumber)
                    text.field("userId", ticket.userId)
                    text.field("version", ticket.version)
                    text.field("orderId", ticket.orderId)
                    text.field("holderId", ticket.holderId)
                    text.field("resaleOf", ticket.resaleOf)
                    text.field("faceValue", number: ticket.faceValue?.jsonNumber)
                    text.field("resaleId", ticket.resaleId)
                }
            }
        }
        return text.buffer
    }
}

extension Ticket {
    var createdEvent: TicketCreatedEvent {
        get throws {
            TicketCreatedEvent(
                id: try requireID().uuidString.lowercased(), version: version, title: title, price: price, userId: userId,
                resaleOf: resaleOf?.uuidString.lowercased()
            )
        }
    }

    var updatedEvent: TicketUpdatedEvent {
        get throws {
            TicketUpdatedEvent(
                id: try requireID().uuidString.lowercased(), version: version, title: title, price: price,
                userId: userId, orderId: orderId, holderId: holderId,
                withdrawn: withdrawnAt == nil ? nil : true, resold: resoldAt == nil ? nil : true
            )
        }
    }
}
