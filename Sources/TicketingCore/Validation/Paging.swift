import Vapor

/// How every list of the API pages: `?limit=` (`PageSize`), `?after=<id of the last item seen>`, and on a full page a
/// `Link: <…>; rel="next"` header.
public enum Paging {
    /// `?after=`: nil when absent; the id when `known` says it names an item this list may continue after; else 400
    /// `Unknown <noun> to continue after` (field `after`).
    public static func after(_ request: Request, noun: String, known: (UUID) async throws -> Bool) async throws -> UUID? {
        guard let after = request.query[String.self, at: "after"] else { return nil }
        guard let id = UUID(whole: after), try await known(id) else {
            throw AppError.invalid([ErrorItem(message: "Unknown \(noun) to continue after", field: "after")])
        }
        return id
    }

    /// Adds the next page's link when the page is full, repeating `parameters` (the list's own, already parsed) so
    /// that the next page continues the same list. Each value is percent-encoded down to unreserved ASCII, so that
    /// nothing a client sent can end the link or the header.
    public static func linkNext(
        _ response: Response, path: String, limit: Int, count: Int, lastID: String?, parameters: [(String, String)] = []
    ) {
        guard count == limit, let lastID else { return }
        let query = Self.query(parameters + [("limit", "\(limit)"), ("after", lastID)])
        response.headers.add(name: .link, value: #"<\#(path)?\#(query)>; rel="next""#)
    }

    /// `name=value&…`, every value percent-encoded to RFC 3986's unreserved characters: a search's words stay words.
    public static func query(_ parameters: [(String, String)]) -> String {
        parameters.map { name, value in "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "")" }
            .joined(separator: "&")
    }

    /// RFC 3986's unreserved characters; `CharacterSet.alphanumerics` would let any letter of Unicode through.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

/// `?limit=` of a paged list: digits only, within `1...max`; every list of the API pages the same way.
public enum PageSize {
    public static func read(_ request: Request, default fallback: Int = 100, max: Int = 1_000) throws -> Int {
        guard let raw = request.query[String.self, at: "limit"] else { return fallback }
        guard (1...7).contains(raw.count), raw.allSatisfy(\.isASCIIDigit), let limit = Int(raw), (1...max).contains(limit) else {
            throw AppError.invalid([ErrorItem(message: "Limit must be between 1 and \(max)", field: "limit")])
        }
        return limit
    }
}
