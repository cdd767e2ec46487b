import Foundation
import Leaf
import TicketingCore

/// The tickets for sale with their search, and a seller's own listings with the form that edits one. Both lists page
/// twenty at a time through the API's keyset paging.
extension Pages {
    static let pageSize = 20

    /// Where a visitor is in a paged list, carried in the links alone: `after`, the id the API continues after, and
    /// `back`, the `after` of each page before it (oldest first, comma-separated), which "Previous" steps back
    /// through. Read strictly, ids only, since they go into the API's query; at most `backLength` pages are
    /// remembered, and "Previous" from the oldest of them leads to the first page.
    struct PagePosition: Equatable {
        static let backLength = 20

        var after: String?
        var back: [String]

        init(after: String?, back: [String]) {
            self.after = after
            self.back = back
        }

        init(_ request: Request) throws {
            func ids(_ name: String) throws -> [String] {
                let text = request.query[String.self, at: name] ?? ""
                guard !text.isEmpty else { return [] }
                guard text.utf8.count <= 37 * Self.backLength else { throw PageError.notFound }
                return try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
                    guard let id = UUID(whole: part) else { throw PageError.notFound }
                    return id.uuidString.lowercased()
                }
            }
            let after = try ids("after")
            guard after.count <= 1 else { throw PageError.notFound }
            self.init(after: after.first, back: try ids("back"))
            // Earlier pages without a page to come back to them from would be a link this site never writes.
            guard self.after != nil || back.isEmpty else { throw PageError.notFound }
        }

        /// The page after this one, whose last item is `lastID`.
        func next(_ lastID: String) -> Self {
            Self(after: lastID, back: Array((back + (after.map { [$0] } ?? [])).suffix(Self.backLength)))
        }

        /// The page before this one; nil on the first page.
        var previous: Self? {
            guard after != nil else { return nil }
            return Self(after: back.last, back: back.dropLast())
        }

        var query: [(String, String)] {
            (after.map { [("after", $0)] } ?? []) + (back.isEmpty ? [] : [("back", back.joined(separator: ","))])
        }
    }

    /// A page of a list: up to `pageSize` tickets of the one more asked of the API, and the links to the pages
    /// around it, which repeat `parameters`.
    struct TicketPage {
        var tickets: [TicketJSON]
        var next: String?
        var previous: String?

        init(_ fetched: [TicketJSON], at position: PagePosition, path: String, keeping parameters: [(String, String)] = []) {
            tickets = Array(fetched.prefix(Pages.pageSize))
            func link(_ position: PagePosition) -> String {
                let all = parameters + position.query
                return all.isEmpty ? path : path + "?" + Paging.query(all)
            }
            next = fetched.count > Pages.pageSize ? tickets.last.map { link(position.next($0.id)) } : nil
            previous = position.previous.map(link)
        }
    }

    /// The API's query for the page at `position`, one ticket more than a page to know whether another follows.
    private func apiQuery(_ parameters: [(String, String)], at position: PagePosition) -> String {
        Paging.query(parameters + [("limit", String(Self.pageSize + 1))] + (position.after.map { [("after", $0)] } ?? []))
    }

    // MARK: - Tickets for sale

    struct Option: Encodable, Sendable {
        var value: String
        var label: String
        var selected: Bool
    }

    struct IndexBody: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            var id: String
            var title: String
            var price: String
        }
        var q: String
        var minPrice: String
        var maxPrice: String
        var sorts: [Option]
        var searched: Bool
        var tickets: [Row]
        var next: String?
        var previous: String?
        var errors: [ErrorItem]
    }

    static let sorts = [("oldest", "Oldest first"), ("newest", "Newest first"), ("price", "Lowest price first"),
                        ("-price", "Highest price first")]

    /// The home page: the tickets for sale, searched by a GET form that works without scripts and keeps its values
    /// in the page's address. Prices are read here as the sell form reads them (`$1,500`) and sent as plain amounts;
    /// the words and the sort go as typed, and the API's own errors for them show above the form.
    @Sendable
    func index(_ request: Request) async throws -> Response {
        func value(_ name: String) -> String { request.query[String.self, at: name] ?? "" }
        let (q, minPrice, maxPrice, sort) = (value("q"), value("minPrice"), value("maxPrice"), value("sort"))
        let position = try PagePosition(request)
        let shown = [("q", q), ("minPrice", minPrice), ("maxPrice", maxPrice), ("sort", sort)].filter { !$0.1.isEmpty }
        var errors: [ErrorItem] = []
        var search: [(String, String)] = []
        var amounts: [String: Money] = [:]
        for (name, text) in shown {
            guard name.hasSuffix("Price") else { search.append((name, text)); continue }
            guard let amount = Money(written: text) else {
                let label = name == "minPrice" ? "Lowest price" : "Highest price"
                errors.append(ErrorItem(message: "\(label) must be an amount, like 25, 1,500 or 19.99", field: name))
                continue
            }
            amounts[name] = amount
            search.append((name, amount.jsonNumber))
        }
        if let low = amounts["minPrice"], let high = amounts["maxPrice"], high < low {
            errors.append(ErrorItem(message: "Highest price must not be less than the lowest price", field: "maxPrice"))
        }
        var fetched: [TicketJSON] = []
        if errors.isEmpty {
            let reply = try await api.send(.GET, "/api/tickets?" + apiQuery(search, at: position), as: request)
            if reply.isSuccess { fetched = try reply.decode([TicketJSON].self) } else { errors = reply.errors }
        }
        let page = TicketPage(fetched, at: position, path: "/", keeping: shown)
        return try await render("index", "Tickets for sale", IndexBody(
            q: q, minPrice: minPrice, maxPrice: maxPrice,
            sorts: Self.sorts.map { Option(value: $0, label: $1, selected: $0 == sort) },
            searched: shown.contains { $0.0 != "sort" },
            tickets: page.tickets.map { .init(id: $0.id, title: $0.title, price: $0.price.dollars) },
            next: page.next, previous: page.previous, errors: errors
        ), on: request, status: errors.isEmpty ? .ok : .badRequest)
    }

    // MARK: - A seller's listings

    struct ListedBody: Encodable, Sendable {
        struct Row: Encodable, Sendable {
            var id: String
            var title: String
            var price: String
            var state: String
            var onSale: Bool
            /// A resale keeps its price within the cap: withdrawn and listed again rather than edited.
            var editable: Bool
        }
        var tickets: [Row]
        var next: String?
        var previous: String?
    }

    @Sendable
    func listListed(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let position = try PagePosition(request)
        let reply = try await api.send(.GET, "/api/tickets/listed?" + apiQuery([], at: position), as: request)
        // An `after` that is not one of the visitor's listings is a link this site did not write.
        guard reply.isSuccess else { throw PageError.notFound }
        let page = TicketPage(try reply.decode([TicketJSON].self), at: position, path: "/tickets/listed")
        return try await render("listed", "My listings", ListedBody(
            tickets: page.tickets.map { ticket in
                let state = ticket.holderId != nil ? "Sold" : ticket.orderId != nil ? "Reserved" : "On sale"
                return .init(id: ticket.id, title: ticket.title, price: ticket.price.dollars, state: state,
                             onSale: state == "On sale", editable: state == "On sale" && ticket.resaleOf == nil)
            },
            next: page.next, previous: page.previous
        ), on: request)
    }

    /// The form that edits one of the visitor's listings; anyone else's is not found here.
    @Sendable
    func editForm(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        let reply = try await api.send(.GET, "/api/tickets/\(id)", as: request)
        guard reply.isSuccess else { throw PageError.notFound }
        let ticket = try reply.decode(TicketJSON.self)
        guard ticket.userId == request.currentUser?.id else { throw PageError.notFound }
        return try await render("ticket-form", "Edit a listing", TicketFormBody.editing(id, ticket.title, ticket.price.dollars),
                                on: request)
    }

    /// Saves the edit through the API, whose rules (reserved, a resale, not the owner) answer with their own message.
    @Sendable
    func edit(_ request: Request) async throws -> Response {
        if let signIn = requireSignIn(request) { return signIn }
        let id = try pathID(request)
        let input = try request.content.decode(TicketInput.self)
        func refuse(_ errors: [ErrorItem]) async throws -> Response {
            try await render("ticket-form", "Edit a listing", TicketFormBody.editing(id, input.title ?? "", input.price ?? "", errors: errors),
                             on: request, status: .badRequest)
        }
        guard let body = input.body else { return try await refuse(input.priceErrors) }
        let reply = try await api.send(.PUT, "/api/tickets/\(id)", as: request, json: body)
        guard reply.isSuccess else {
            if reply.status == .notFound { throw PageError.notFound }
            return try await refuse(reply.errors)
        }
        return redirect("/tickets/listed")
    }
}
