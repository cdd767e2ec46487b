import Foundation
import TicketingCore
import TicketingTesting
@testable import Web
import XCTVapor
import Yams

/// The web front end's own behaviour, with the API it calls switched off: errors as pages, forgery protection,
/// sign-in redirects. The pages over the real services are tested in a browser (tests/blackbox/test_web.py).
final class WebTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The repository's API description, unless OPENAPI_PATH names another.
    static let openAPIPath = ProcessInfo.processInfo.environment["OPENAPI_PATH"] ?? root.appendingPathComponent("openapi.yaml").path

    func withWeb(secure: Bool = false, openAPIPath: String = openAPIPath, _ body: (Application) async throws -> Void) async throws {
        var config = TestSupport.config(service: "web", secureCookies: secure)
        config.apiURL = "http://127.0.0.1:\(try freePort())"
        config.openAPIPath = openAPIPath
        try await TestSupport.withApp(service: "web", config: config, configure: { app, config in
            app.directory.viewsDirectory = Self.root.appendingPathComponent("Resources/Views").path + "/"
            app.directory.resourcesDirectory = Self.root.appendingPathComponent("Resources").path + "/"
            try await app.wireForTesting(.web, config, bus: nil)
        }, body)
    }

    func testAnUnknownPageIsAFriendly404Page() async throws {
        try await withWeb { app in
            let response = try await app.testable().sendRequest(.GET, "/no/such/page")
            XCTAssertEqual(response.status, .notFound)
            XCTAssertEqual(response.headers.contentType, .html)
            XCTAssertTrue(response.body.string.contains("Page not found"), response.body.string)
        }
    }

    func testAServiceThatIsDownIsAClear503Page() async throws {
        try await withWeb { app in
            let response = try await app.testable().sendRequest(.GET, "/")
            XCTAssertEqual(response.status, .serviceUnavailable)
            XCTAssertTrue(response.body.string.contains("Temporarily unavailable"), response.body.string)
            XCTAssertFalse(response.body.string.contains("127.0.0.1"), "no internals in the page")
        }
    }

    /// The form's token, from its hidden field.
    func formToken(_ page: XCTHTTPResponse) throws -> String {
        let body = page.body.string
        let start = try XCTUnwrap(body.range(of: #"name="_csrf" value=""#)).upperBound
        return String(body[start...].prefix { $0 != "\"" })
    }

    func testAFormPostWithoutTheMatchingTokenIsRefused() async throws {
        try await withWeb { app in
            let form = try await app.testable().sendRequest(.GET, "/auth/signin")
            XCTAssertEqual(form.status, .ok)
            let cookie = try XCTUnwrap(form.headers.setCookie?[CSRF.cookie])
            XCTAssertTrue(cookie.isHTTPOnly)
            XCTAssertEqual(cookie.sameSite, .strict)
            let token = try formToken(form)

            var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
            let forged = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                              body: ByteBuffer(string: "email=a%40b.c&password=x"))
            XCTAssertEqual(forged.status, .forbidden)
            headers.add(name: .cookie, value: "\(CSRF.cookie)=\(cookie.string)")
            let wrong = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                             body: ByteBuffer(string: "email=a%40b.c&password=x&_csrf=guess"))
            XCTAssertEqual(wrong.status, .forbidden)
            let genuine = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                               body: ByteBuffer(string: "email=a%40b.c&password=x&_csrf=\(token)"))
            XCTAssertEqual(genuine.status, .serviceUnavailable, "past the check, on to the (switched off) API")
        }
    }

    /// Double submission alone let through a cookie planted by someone else with the same value in the form.
    func testATokenIsBoundToTheVisitorSoAPlantedCookieOrAnotherSessionsTokenIsRefused() async throws {
        try await withWeb { app in
            let planted = String(repeating: "A", count: 43)
            let form: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded", "Cookie": "\(CSRF.cookie)=\(planted)"]
            let doubleSubmitted = try await app.testable().sendRequest(.POST, "/auth/signin", headers: form,
                                                                       body: ByteBuffer(string: "email=a%40b.c&password=x&_csrf=\(planted)"))
            XCTAssertEqual(doubleSubmitted.status, .forbidden)

            // The attacker's own cookie and token, valid for the attacker's session, do not work in the victim's.
            let attacker = try await sessionCookie(id: "attacker"), victim = try await sessionCookie(id: "victim")
            let page = try await app.testable().sendRequest(.GET, "/auth/signout", headers: ["Cookie": attacker])
            let value = try XCTUnwrap(page.headers.setCookie?[CSRF.cookie]?.string)
            let token = try formToken(page)
            func signOut(_ session: String) async throws -> HTTPStatus {
                try await app.testable().sendRequest(.POST, "/auth/signout", headers: [
                    "Content-Type": "application/x-www-form-urlencoded", "Cookie": "\(session); \(CSRF.cookie)=\(value)",
                ], body: ByteBuffer(string: "_csrf=\(token)")).status
            }
            try await assertEqual(try await signOut(victim), .forbidden)
            try await assertEqual(try await signOut(attacker), .serviceUnavailable, "the attacker's own session passes, on to the API")
        }
    }

    func testPagesSayWhatTheyMayLoadAndRefuseFraming() async throws {
        try await withWeb(secure: true) { app in
            for path in ["/auth/signin", "/no/such/page", "/"] {
                let page = try await app.testable().sendRequest(.GET, path)
                let policy = try XCTUnwrap(page.headers.first(name: "Content-Security-Policy"), path)
                XCTAssertTrue(policy.contains("frame-ancestors 'none'"), policy)
                XCTAssertTrue(policy.contains("script-src 'self' http://127.0.0.1:8420;"), policy)
                XCTAssertTrue(policy.contains("style-src 'self';"), policy)
                XCTAssertFalse(policy.contains("unsafe-inline"), policy)
                XCTAssertEqual(page.headers.first(name: "X-Frame-Options"), "DENY", path)
                XCTAssertEqual(page.headers.first(name: "X-Content-Type-Options"), "nosniff", path)
                XCTAssertEqual(page.headers.first(name: "Referrer-Policy"), "strict-origin-when-cross-origin", path)
                XCTAssertEqual(page.headers.first(name: "Strict-Transport-Security"), "max-age=31536000; includeSubDomains", path)
                XCTAssertFalse(page.body.string.contains("<style>") || page.body.string.contains("<script>"), "no inline code: \(path)")
            }
            let css = try await app.testable().sendRequest(.GET, "/assets/site.css")
            XCTAssertEqual(css.status, .ok)
            XCTAssertEqual(css.headers.contentType, .css)
            let script = try await app.testable().sendRequest(.GET, "/assets/order.js")
            XCTAssertTrue(script.body.string.contains("createToken"))
        }
        try await withWeb { app in
            let page = try await app.testable().sendRequest(.GET, "/auth/signin")
            XCTAssertNil(page.headers.first(name: "Strict-Transport-Security"), "HSTS only where the cookie is Secure")
        }
        let stripe = PageHeadersMiddleware(stripeJSURL: "https://js.stripe.com/v3/", secure: true).contentSecurityPolicy
        XCTAssertTrue(stripe.contains("frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"), stripe)
        XCTAssertTrue(stripe.contains("connect-src 'self' https://api.stripe.com"), stripe)
    }

    func testARedirectTargetIsAPathOfThisSiteOrHome() {
        for good in ["/", "/orders", "/orders/abc-1?x=1&y=%20#top", "/tickets/new"] {
            XCTAssertEqual(RedirectTarget.local(good), good)
        }
        for bad in ["/orders\r\nX-Anything: yes", "/\t/evil.example/", "//evil.example", "/\\evil.example", "https://evil.example",
                    "orders", "", "/caf\u{E9}", "/a b", "/\u{0}", "/" + String(repeating: "a", count: 1_024), "/\u{7F}"] {
            XCTAssertEqual(RedirectTarget.local(bad), "/", bad.debugDescription)
        }
        XCTAssertEqual(RedirectTarget.local(nil), "/")
    }

    func testTheInternalRoutesAreNotThereThroughAProxy() async throws {
        try await withWeb { app in
            for path in ["/metrics", "/healthz", "/readyz"] {
                let direct = try await app.testable().sendRequest(.GET, path)
                XCTAssertNotEqual(direct.status, .notFound, path)
                let proxied = try await app.testable().sendRequest(.GET, path, headers: ["X-Forwarded-For": "203.0.113.9"])
                XCTAssertEqual(proxied.status, .notFound, path)
                XCTAssertTrue(proxied.body.string.contains("Page not found"), path)
            }
        }
    }

    func testSignedOutVisitorsAreSentToSignInAndOnlyBackToThisSite() async throws {
        try await withWeb { app in
            for path in ["/tickets/new", "/orders", "/orders/abc"] {
                let response = try await app.testable().sendRequest(.GET, path)
                XCTAssertEqual(response.status, .seeOther, path)
                XCTAssertEqual(response.headers.first(name: .location),
                               "/auth/signin?next=" + path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            }
            let back = try await app.testable().sendRequest(.GET, "/auth/signin?next=%2Forders")
            XCTAssertTrue(back.body.string.contains(#"name="next" value="/orders""#))
            for evil in ["//evil.example", "https://evil.example", "/\\evil.example"] {
                let page = try await app.testable().sendRequest(.GET, "/auth/signin?next=" + evil.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
                XCTAssertTrue(page.body.string.contains(#"name="next" value="/""#), evil)
            }
        }
    }

    // MARK: - The API reference

    func testTheAPIReferenceShowsEveryOperationAndSchemaOfTheDescription() async throws {
        let document = try XCTUnwrap(try Yams.compose(yaml: String(contentsOfFile: Self.openAPIPath, encoding: .utf8)))
        let operationIds = (document["paths"]?.mapping ?? [:]).flatMap { _, item in
            (item.mapping ?? [:]).compactMap { $0.value["operationId"]?.string }
        }
        let schemas = (document["components"]?["schemas"]?.mapping ?? [:]).compactMap { $0.key.string }
        XCTAssertGreaterThan(operationIds.count, 10)
        XCTAssertGreaterThan(schemas.count, 10)
        try await withWeb { app in
            for path in ["/docs", "/docs/"] {
                let page = try await app.testable().sendRequest(.GET, path)
                XCTAssertEqual(page.status, .ok, path)
                XCTAssertEqual(page.headers.contentType, .html, path)
                let html = page.body.string
                for id in operationIds {
                    XCTAssertTrue(html.contains(#"id="op-\#(id)""#), id)
                    XCTAssertTrue(html.contains(##"href="#op-\##(id)""##), "\(id) in the contents")
                }
                for name in schemas { XCTAssertTrue(html.contains(#"id="schema-\#(name)""#), name) }
                XCTAssertTrue(html.contains(#"<a href="/docs">API</a>"#), "the site's navigation leads here")

                // Every link within the page lands somewhere.
                let ids = Set(html.matches(of: /id="([^"]+)"/).map { String($0.1) })
                for anchor in Set(html.matches(of: /href="#([^"]+)"/).map { String($0.1) }) {
                    XCTAssertTrue(ids.contains(anchor), "#\(anchor) leads nowhere")
                }
            }
        }
    }

    func testTheAPIReferenceShowsTheDescriptionsTextAsText() async throws {
        try await withWeb { app in
            let html = try await app.testable().sendRequest(.GET, "/docs").body.string
            // From `Link: </api/tickets?<search>&limit=<limit>&after=<last id>>; rel="next"`, a code span across a line break.
            XCTAssertTrue(html.contains(
                "<code>Link: &lt;/api/tickets?&lt;search&gt;&amp;limit=&lt;limit&gt;&amp;after=&lt;last id&gt;&gt;; rel=&quot;next&quot;</code>"
            ))
            XCTAssertTrue(html.contains("&lt;base64 of {&quot;jwt&quot;:&quot;&lt;token&gt;&quot;}&gt;"))
            XCTAssertTrue(html.contains("<strong>JSON only.</strong>"))
            XCTAssertTrue(html.contains("<th>variable</th>"), "info.description's table")
            // Only the markup the page makes, none from the document: no `<limit>`, `<token>`, `</api/…>` as tags.
            let elements = Set(html.matches(of: /<\/?([A-Za-z][A-Za-z0-9]*)/).map { String($0.1).lowercased() })
            let made: Set = ["html", "head", "meta", "title", "link", "body", "header", "nav", "main", "article", "section", "div",
                             "h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "a", "span", "code", "strong", "em", "pre",
                             "table", "thead", "tbody", "tr", "th", "td"]
            XCTAssertEqual(elements.subtracting(made), [])
            XCTAssertFalse(html.contains("<script") || html.contains("<style") || html.contains(" style="))
        }
    }

    func testTheAPIDescriptionIsServedAsItIs() async throws {
        try await withWeb { app in
            let file = try await app.testable().sendRequest(.GET, "/docs/openapi.yaml")
            XCTAssertEqual(file.status, .ok)
            XCTAssertEqual(file.headers.first(name: .contentType), "application/yaml")
            XCTAssertEqual(Data(buffer: file.body), try Data(contentsOf: URL(fileURLWithPath: Self.openAPIPath)))
        }
    }

    func testTheWebServiceDoesNotStartWithoutAUsableAPIDescription() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let broken = [
            "missing.yaml": nil,
            "not-yaml.yaml": "openapi: 3.1.0\npaths: [\n",
            "not-openapi.yaml": "name: something else\n",
            "dangling.yaml": """
                openapi: 3.1.0
                paths:
                  /x:
                    get:
                      responses:
                        "200": {$ref: "#/components/responses/Nowhere"}
                """,
            "loop.yaml": """
                openapi: 3.1.0
                paths:
                  /x:
                    get:
                      responses:
                        "200": {$ref: "#/components/responses/Loop"}
                components:
                  responses:
                    Loop: {$ref: "#/components/responses/Loop"}
                """,
        ]
        for (name, text) in broken {
            let path = directory.appendingPathComponent(name).path
            if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
            do {
                try await withWeb(openAPIPath: path) { _ in XCTFail("started with \(name)") }
            } catch let failure as APIReference.Failure {
                XCTAssertTrue(failure.description.contains(path), failure.description)
            }
        }
    }

    func testDescriptionsAreMarkdownAndEverythingElseIsEscaped() {
        XCTAssertEqual(Markdown.html("""
            A `<b>` and ``a`b`` span, **bold**, *this*, a * b, <i>not a tag</i> & \\*not emphasis\\*;
            `across
            lines`.
            - one
              continued
            - two
            ## Next
            | a | `b|c` |
            |---|---|
            | 1 | 2 |
            """), """
            <p>A <code>&lt;b&gt;</code> and <code>a`b</code> span, <strong>bold</strong>, <em>this</em>, a * b, \
            &lt;i&gt;not a tag&lt;/i&gt; &amp; *not emphasis*;
            <code>across lines</code>.</p>
            <ul><li>one
            continued</li><li>two</li></ul>
            <h2>Next</h2>
            <table><thead><tr><th>a</th><th><code>b|c</code></th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>
            """)
    }

    func testPricesReadAsDollars() {
        XCTAssertEqual(Decimal(string: "20")!.dollars, "$20.00")
        XCTAssertEqual(Decimal(string: "1234.5")!.dollars, "$1,234.50")
    }

    /// "Next" and "Previous" need no state on the server: each link carries the pages before it, up to a limit.
    func testPageLinksStepForwardAndBackThroughTheLastPagesSeen() throws {
        let first = Pages.PagePosition(after: nil, back: [])
        var trail = [first]
        for _ in 0..<25 { trail.append(trail[trail.count - 1].next(UUID().uuidString.lowercased())) }
        XCTAssertEqual(trail.last?.back.count, Pages.PagePosition.backLength)
        var position = trail[trail.count - 1]
        for expected in trail.dropLast().reversed().prefix(Pages.PagePosition.backLength) {
            position = try XCTUnwrap(position.previous)
            XCTAssertEqual(position.after, expected.after)
        }
        // Beyond what the links remember, "Previous" goes back to the first page, which has none.
        XCTAssertEqual(position.previous, first)
        XCTAssertNil(first.previous)
        XCTAssertEqual(first.query.count, 0)
    }

    func testAPageLinkThisSiteDidNotWriteIsNotFound() async throws {
        let id = UUID().uuidString
        try await withWeb { app in
            for query in ["after=not-an-id", "after=\(id),\(id)", "back=\(id)", "after=\(id)&back=x",
                          "after=\(id)&back=" + Array(repeating: id, count: 21).joined(separator: ","), "after=\(id)%00"] {
                // Read before the API is asked (here it is down, which would be a 503).
                let response = try await app.testable().sendRequest(.GET, "/?" + query)
                XCTAssertEqual(response.status, .notFound, query)
            }
        }
    }
}
