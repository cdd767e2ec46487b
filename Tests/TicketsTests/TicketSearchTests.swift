import Foundation
import SQLKit
@testable import Tickets
import TicketingCore
import TicketingTesting
import XCTVapor

/// The listing's search, on the database the tests run on (SQLite's FTS5, or PostgreSQL's tsvector with
/// TEST_DATABASE_URL).
final class TicketSearchTests: XCTestCase {
    private func titles(_ response: XCTHTTPResponse) -> [String] {
        (response.json as? [[String: Any]])?.compactMap { $0["title"] as? String } ?? []
    }

    func testWordsPricesAndSortNarrowAndOrderTheListing() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            for (title, price) in [("Jazz concert", "30"), ("Rock Concerts live", "12.5"), ("Opera night", "80"),
                                   ("Café jazz", "8"), ("Jazz brunch", "45")] {
                try await createTicket(seller, title: title, price: price)
            }
            let reserved = try await createTicket(seller, title: "Jazz reserved", price: "20")["id"] as! String
            try await app.sql.raw("UPDATE tickets SET order_id = 'o' WHERE id = \(bind: UUID(uuidString: reserved)!)").run()
            let anyone = TestClient.signedOut(app)
            let cases: [(String, [String])] = [
                ("", ["Jazz concert", "Rock Concerts live", "Opera night", "Café jazz", "Jazz brunch"]),
                ("q=jazz", ["Jazz concert", "Café jazz", "Jazz brunch"]),
                ("q=JAZZ%20concert", ["Jazz concert"]),
                ("q=concert", ["Jazz concert", "Rock Concerts live"]),  // stemmed
                ("q=caf%C3%A9", ["Café jazz"]),
                ("q=%22jazz%22%20-brunch%20*", ["Jazz brunch"]),  // every word, never the index's query syntax
                ("q=%21%21%21", []),
                ("q=&minPrice=&sort=", ["Jazz concert", "Rock Concerts live", "Opera night", "Café jazz", "Jazz brunch"]),
                ("minPrice=12.5&maxPrice=45", ["Jazz concert", "Rock Concerts live", "Jazz brunch"]),
                ("q=jazz&maxPrice=30&sort=price", ["Café jazz", "Jazz concert"]),
                ("sort=price", ["Café jazz", "Rock Concerts live", "Jazz concert", "Jazz brunch", "Opera night"]),
                ("sort=-price", ["Opera night", "Jazz brunch", "Jazz concert", "Rock Concerts live", "Café jazz"]),
                ("sort=newest", ["Jazz brunch", "Café jazz", "Opera night", "Rock Concerts live", "Jazz concert"]),
            ]
            for (query, expected) in cases {
                let response = try await anyone.send(.GET, "/api/tickets?\(query)")
                XCTAssertEqual(response.status, .ok, query)
                XCTAssertEqual(titles(response), expected, query)
            }
        }
    }

    func testEverySortPagesThroughAllTicketsOnceWhileMoreAreListed() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            // Repeated prices, so that the order within a price is the tie-break on creation and id.
            for index in 0..<7 { try await createTicket(seller, title: "Show \(index)", price: ["5", "9", "5"][index % 3]) }
            let anyone = TestClient.signedOut(app)
            let ids = { (response: XCTHTTPResponse) in (response.json as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? [] }
            for sort in TicketSearch.Sort.allCases {
                let whole = ids(try await anyone.send(.GET, "/api/tickets?q=show&sort=\(sort.rawValue)"))
                XCTAssertGreaterThanOrEqual(whole.count, 7, sort.rawValue)  // and the earlier walks' later ones
                var seen: [String] = []
                var path = "/api/tickets?q=show&sort=\(sort.rawValue)&limit=3"
                while true {
                    let page = try await anyone.send(.GET, path)
                    XCTAssertEqual(page.status, .ok, path)
                    seen += ids(page)
                    // Listed between pages: each walk may or may not meet these, but must neither skip nor repeat.
                    try await createTicket(seller, title: "Show later", price: ["1", "5", "99"][seen.count % 3])
                    guard let link = page.headers.first(name: .link) else { break }
                    XCTAssertTrue(link.hasPrefix("</api/tickets?q=show&"), link)
                    path = String(link.dropFirst().prefix { $0 != ">" })
                }
                XCTAssertEqual(Set(seen).count, seen.count, "\(sort.rawValue): a ticket came twice")
                XCTAssertEqual(seen.filter(whole.contains), whole, sort.rawValue)
            }
        }
    }

    func testTheNextLinkRepeatsTheSearchEncoded() async throws {
        try await withTickets { app, _ in
            let seller = try await TestClient.signedIn(app)
            for _ in 0..<2 { try await createTicket(seller, title: "Ünïcode & co", price: "10") }
            let response = try await TestClient.signedOut(app).send(.GET, "/api/tickets?q=%C3%BCn%C3%AFcode%20%26%20co&minPrice=1.5&sort=-price&limit=1")
            let link = try XCTUnwrap(response.headers.first(name: .link))
            let last = (response.json as? [[String: Any]])?.first?["id"] as? String ?? ""
            XCTAssertEqual(link, #"</api/tickets?q=%C3%BCn%C3%AFcode%20%26%20co&minPrice=1.5&sort=-price&limit=1&after=\#(last)>; rel="next""#)
        }
    }

    func testBadSearchValuesAreFieldErrors() async throws {
        try await withTickets { app, _ in
            let anyone = TestClient.signedOut(app)
            let cases: [(String, [String])] = [
                ("minPrice=abc", ["minPrice"]), ("maxPrice=1e3", ["maxPrice"]), ("minPrice=-1", ["minPrice"]),
                ("minPrice=1.234", ["minPrice"]), ("maxPrice=%205", ["maxPrice"]), ("minPrice=20&maxPrice=10", ["maxPrice"]),
                ("sort=cheapest", ["sort"]), ("sort=PRICE", ["sort"]), ("q=\(String(repeating: "a", count: 201))", ["q"]),
                ("q=a%00b", ["q"]), ("q=a%E2%80%AEb", ["q"]), ("minPrice=x&sort=y&q=%01", ["q", "minPrice", "sort"]),
                ("after=\(UUID())", ["after"]), ("q=jazz&sort=newest&after=\(UUID())", ["after"]), ("after=", ["after"]),
            ]
            for (query, fields) in cases {
                let response = try await anyone.send(.GET, "/api/tickets?\(query)")
                XCTAssertEqual(response.status, .badRequest, query)
                XCTAssertEqual(Set(response.errorEnvelope?.errors.compactMap(\.field) ?? []), Set(fields), query)
            }
        }
    }
    /// No search reads the whole table, in any order, with or without a cursor. SQLite keeps no statistics, so its
    /// plans here are the plans at any size; PostgreSQL's follow its statistics, and benchmarks/search/run shows them
    /// over 100,000 listings.
    func testNoSearchPlanScansTheTableOnSQLite() async throws {
        try await withTickets { app, _ in
            guard app.sql.dialect.name == "sqlite" else { return }
            let queries = ["", "q=jazz", "q=jazz+night&minPrice=5&maxPrice=50", "minPrice=5", "sort=newest", "q=jazz&sort=newest",
                           "sort=price", "sort=-price&maxPrice=9", "q=jazz&sort=price", "q=jazz&sort=-price&minPrice=1"]
            for query in queries {
                for cursor in [nil, UUID()] {
                    let request = Request(application: app, url: URI(string: "/api/tickets?\(query)"), on: app.eventLoopGroup.next())
                    var explain: SQLQueryString = "EXPLAIN QUERY PLAN "
                    explain += try TicketSearch(request).select(ListedTicket.columns, limit: 21, after: cursor, dialect: "sqlite")
                    let plan = try await app.sql.raw(explain).all().map { try $0.decode(column: "detail", as: String.self) }
                    XCTAssertFalse(plan.isEmpty)
                    // "SCAN tickets USING INDEX …" walks an index in order; a bare "SCAN tickets" reads every row.
                    XCTAssertFalse(plan.contains { $0.hasPrefix("SCAN tickets") && !$0.contains("INDEX") }, "?\(query): \(plan)")
                }
            }
        }
    }
}
