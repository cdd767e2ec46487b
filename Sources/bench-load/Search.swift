import AsyncHTTPClient
import Foundation

/// The listing's search at marketplace size (benchmarks/search/run seeds the listings straight into the tickets
/// database first): each phase's p99 next to the baseline route's p99 of the same run, for a common word with a price
/// range in each order, a rare word, and pages deep in the listing.
enum Search {
    /// `deep` is the id of a listing about halfway through the oldest-first order, to continue after.
    static func run(client: HTTPClient, front: String, seconds: Double, concurrency: Int, deep: String) async throws {
        let http = HTTP(client: client, front: front)
        let baseline = try await BenchLoad.phase("GET /api/users/currentuser (baseline)") {
            try await Load.run(seconds: seconds, concurrency: concurrency) { _ in
                try await http.send(.GET, "/api/users/currentuser", expect: 200)
            }
        }
        let common = "q=concert&minPrice=50&maxPrice=150"
        for (name, query) in [
            ("common word, price range", common), ("common word, range, by price", common + "&sort=price"),
            ("common word, range, newest", common + "&sort=newest"), ("rare word", "q=lisbon+orchestra"),
            ("deep page, oldest", "after=\(deep)"), ("deep page, by price", "sort=-price&after=\(deep)"),
            ("common word, deep page", "q=concert&after=\(deep)"),
        ] {
            let path = "/api/tickets?\(query)&limit=20"
            let first = try await http.send(.GET, path, expect: 200)
            guard first.body.hasPrefix("[{") else { throw HTTP.Unexpected(description: "\(path) found nothing: \(first.body)") }
            try await BenchLoad.phase(name, against: baseline) {
                try await Load.run(seconds: seconds, concurrency: concurrency) { _ in try await http.send(.GET, path, expect: 200) }
            }
        }
    }
}
