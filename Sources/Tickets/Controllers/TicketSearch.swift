import Foundation
import SQLKit
import TicketingCore

/// What a buyer asks the listing for: `q` (words of the title, through the database's own full-text index),
/// `minPrice` and `maxPrice` (read as strictly as a listing's price), and `sort`. Each is read whole; an empty value, as
/// a search form sends for a box left blank, is the same as none.
struct TicketSearch {
    enum Sort: String, CaseIterable {
        case oldest, newest, price, priceDescending = "-price"
    }

    /// The words of `q`, as the index matches them: runs of letters and digits.
    var words: [String] = []
    /// `q` as sent, trimmed, for the next page's link.
    var query: String?
    var minPrice: Money?
    var maxPrice: Money?
    var sort: Sort = .oldest

    static let maxQueryCharacters = 200

    /// Every field's problem at once, in the contract's envelope.
    init(_ request: Request) throws {
        var errors = FieldErrors()
        let value = { (name: String) in request.query[String.self, at: name].flatMap { $0.isEmpty ? nil : $0 } }
        if let raw = value("q") {
            do {
                let text = try CleanText(raw, maxCharacters: Self.maxQueryCharacters, maxBytes: Self.maxQueryCharacters * 4).value
                query = text
                words = Self.words(in: text)
            } catch .empty {
            } catch .tooLong {
                errors.add("q", "Search must be at most \(Self.maxQueryCharacters) characters")
            } catch .forbiddenCharacter {
                errors.add("q", "Search must not contain control or text-direction characters")
            }
        }
        for (field, keyPath) in [("minPrice", \TicketSearch.minPrice), ("maxPrice", \TicketSearch.maxPrice)] {
            guard let raw = value(field) else { continue }
            guard let price = Money(plain: Substring(raw)) else {
                errors.add(field, "\(field) must be an amount such as 20 or 12.50")
                continue
            }
            self[keyPath: keyPath] = price
        }
        if let minPrice, let maxPrice, minPrice > maxPrice { errors.add("maxPrice", "maxPrice must not be less than minPrice") }
        if let raw = value("sort") {
            if let sort = Sort(rawValue: raw) { self.sort = sort } else {
                errors.add("sort", "Sort must be one of \(Sort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        try errors.throwIfAny()
    }

    static func words(in text: String) -> [String] {
        text.split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// A search for text with no word in it (`?q=!!!`) finds nothing, without asking the database.
    var findsNothing: Bool { query != nil && words.isEmpty }

    /// The query for a page of the tickets for sale that match, in order, after `cursor`. A ticket matches when its
    /// title has every word; each goes to the index quoted (letters and digits only, so never its query syntax: `or`
    /// and `-` are words too), and every value is bound.
    func select(_ columns: String, limit: Int, after cursor: UUID?, dialect: String) -> SQLQueryString {
        let quoted = words.map { "\"\($0)\"" }.joined(separator: " ")
        var prices: SQLQueryString = ""
        if let minPrice { prices += "AND price_cents >= \(bind: minPrice.cents) " }
        if let maxPrice { prices += "AND price_cents <= \(bind: maxPrice.cents) " }
        let forSale = "order_id IS NULL AND withdrawn_at IS NULL"
        let selected = columns.split(separator: ", ").map { "tickets." + $0 }.joined(separator: ", ")
        if dialect != "postgresql", !words.isEmpty, sort == .oldest || sort == .newest {
            return wordsInListingOrder(selected, quoted, prices, forSale, limit: limit, after: cursor)
        }
        var sql: SQLQueryString = "SELECT \(unsafeRaw: selected) FROM tickets WHERE \(unsafeRaw: forSale) "
        if !words.isEmpty {
            if dialect == "postgresql" {
                sql += "AND words @@ websearch_to_tsquery('english', \(bind: quoted)) "
            } else {
                sql += "AND rowid IN (SELECT rowid FROM ticket_words WHERE ticket_words MATCH \(bind: quoted)) "
            }
        }
        sql += prices
        // Each order ends in the id, so that it is total; the rows after the cursor are compared with the cursor
        // ticket's stored values (no timestamp is rounded on the way). `-price` is the exact reverse of `price`, so
        // that one index serves both.
        let (keys, direction, comparison): (String, String, String) = switch sort {
        case .oldest: ("created_at, id", "", ">")
        case .newest: ("created_at, id", " DESC", "<")
        case .price: ("price_cents, created_at, id", "", ">")
        case .priceDescending: ("price_cents, created_at, id", " DESC", "<")
        }
        if let cursor {
            sql += "AND (\(unsafeRaw: keys)) \(unsafeRaw: comparison) (SELECT \(unsafeRaw: keys) FROM tickets WHERE id = \(bind: cursor)) "
        }
        let order = keys.split(separator: ", ").map { $0 + direction }.joined(separator: ", ")
        return sql + "ORDER BY \(unsafeRaw: order) LIMIT \(unsafeRaw: String(limit))"
    }

    /// SQLite, words by date: read in the full-text index's own order, its rowid, which is the order listings were
    /// written in (their `created_at` order, but for listings written within the same instant). SQLite keeps no
    /// statistics to see that a common word matches a fifth of the listings: asked for `created_at` order, it fetched
    /// and sorted every match (14 ms for 20,000 of 100,000) where this stops at the page's last match (0.1 ms).
    private func wordsInListingOrder(
        _ selected: String, _ quoted: String, _ prices: SQLQueryString, _ forSale: String, limit: Int, after cursor: UUID?
    ) -> SQLQueryString {
        let (direction, comparison) = sort == .newest ? (" DESC", "<") : ("", ">")
        var sql: SQLQueryString = "SELECT \(unsafeRaw: selected) FROM ticket_words JOIN tickets ON tickets.rowid = ticket_words.rowid "
        sql += "WHERE ticket_words MATCH \(bind: quoted) AND \(unsafeRaw: forSale) "
        sql += prices
        if let cursor {
            sql += "AND ticket_words.rowid \(unsafeRaw: comparison) (SELECT rowid FROM tickets WHERE id = \(bind: cursor)) "
        }
        return sql + "ORDER BY ticket_words.rowid\(unsafeRaw: direction) LIMIT \(unsafeRaw: String(limit))"
    }

    /// The search as the next page's link repeats it: only what was asked, from the parsed values.
    var linkParameters: [(String, String)] {
        var parameters: [(String, String)] = []
        if let query { parameters.append(("q", query)) }
        if let minPrice { parameters.append(("minPrice", minPrice.jsonNumber)) }
        if let maxPrice { parameters.append(("maxPrice", maxPrice.jsonNumber)) }
        if sort != .oldest { parameters.append(("sort", sort.rawValue)) }
        return parameters
    }
}
