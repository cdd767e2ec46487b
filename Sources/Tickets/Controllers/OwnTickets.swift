import FluentSQL
import SQLKit
import TicketingCore

/// A user's own tickets (held, or listed), newest first by `column` then id, a page at a time as every list pages
/// (`?limit=`, `?after=<id of the last ticket seen>`, a `Link` header on a full page). The cursor must be a ticket
/// `isTheirs` accepts, the same rule as `condition`, so that no one learns whether another's ticket exists.
enum OwnTickets {
    static func page(
        _ request: Request, path: String, where condition: SQLQueryString, newestBy column: String, isTheirs: (Ticket) -> Bool
    ) async throws -> Response {
        let limit = try PageSize.read(request)
        let cursor = try await Paging.after(request, noun: "ticket") { id in
            try await Ticket.find(id, on: request.db).map(isTheirs) ?? false
        }
        var sql: SQLQueryString = "SELECT * FROM tickets WHERE "
        sql += condition
        if let cursor {
            sql += " AND (\(unsafeRaw: column), id) < (SELECT \(unsafeRaw: column), id FROM tickets WHERE id = \(bind: cursor))"
        }
        sql += " ORDER BY \(unsafeRaw: column) DESC, id DESC LIMIT \(unsafeRaw: String(limit))"
        let page = try await TicketResponse.list(try await request.sql.raw(sql).all(decodingFluent: Ticket.self), on: request.db)
        let response = try await page.encodeResponse(for: request)
        Paging.linkNext(response, path: path, limit: limit, count: page.count, lastID: page.last?.id)
        return response
    }
}
