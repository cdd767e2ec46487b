import Foundation
import TicketingCore
import TicketingTesting
@testable import Web
import XCTVapor

/// The web front end's own behaviour, with the API it calls switched off: errors as pages, forgery protection,
/// sign-in redirects. The pages over the real services are tested in a browser (tests/blackbox/test_web.py).
final class WebTests: XCTestCase {
    func withWeb(secure: Bool = false, _ body: (Application) async throws -> Void) async throws {
        var config = TestSupport.config(service: "web", secureCookies: secure)
        config.apiURL = "http://127.0.0.1:\(try freePort())"
        try await TestSupport.withApp(service: "web", config: config, configure: { app, config in
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            app.directory.viewsDirectory = root.appendingPathComponent("Resources/Views").path + "/"
            app.directory.resourcesDirectory = root.appendingPathComponent("Resources").path + "/"
            try await WebService.configure(app, config)
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

    func testPricesReadAsDollars() {
        XCTAssertEqual(Decimal(string: "20")!.dollars, "$20.00")
        XCTAssertEqual(Decimal(string: "1234.5")!.dollars, "$1,234.50")
    }
}
