import Foundation
import TicketingCore

/// The body of POST and PUT. Fields are optional so that missing ones become the contract's field errors.
struct TicketInput: Decodable {
    var title: String?
    var price: PriceInput?
}

/// A price as sent: a JSON number, or a numeric string as an HTML form would send it.
struct PriceInput: Decodable {
    var value: Decimal?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Decimal.self) {
            value = number
        } else if let text = try? container.decode(String.self) {
            value = Decimal(string: text.trimmingCharacters(in: .whitespaces), locale: Locale(identifier: "en_US_POSIX"))
        } else {
            value = nil
        }
    }
}

struct ValidTicket {
    var title: String
    var price: Money

    static let maxPrice = Money(cents: 100_000_000)

    init(_ input: TicketInput) throws {
        var errors = FieldErrors()
        let title = Validate.trimmed(input.title)
        if title.isEmpty {
            errors.add("title", "Title is required")
        } else if title.count > 200 {
            errors.add("title", "Title must be at most 200 characters")
        }
        var price: Money?
        if let value = input.price?.value, value > 0 {
            if let money = Money(dollars: value) {
                if money > Self.maxPrice { errors.add("price", "Price must be at most 1000000") } else { price = money }
            } else {
                errors.add("price", "Price must have at most 2 decimals")
            }
        } else {
            errors.add("price", "Price must be greater than 0")
        }
        try errors.throwIfAny()
        self.title = title
        self.price = price!
    }
}

/// Ticket JSON: `{id, title, price, userId, version, orderId?}`.
struct TicketResponse: Content {
    var id: String
    var title: String
    var price: Money
    var userId: String
    var version: Int
    var orderId: String?

    init(_ ticket: Ticket) throws {
        id = try ticket.requireID().uuidString.lowercased()
        title = ticket.title
        price = ticket.price
        userId = ticket.userId
        version = ticket.version
        orderId = ticket.orderId
    }
}

extension Ticket {
    var updatedEvent: TicketUpdatedEvent {
        get throws {
            TicketUpdatedEvent(
                id: try requireID().uuidString.lowercased(), version: version, title: title, price: price,
                userId: userId, orderId: orderId
            )
        }
    }
}
