import Foundation
import TicketingCore
import TicketingTesting
@testable import Web
import XCTVapor

/// The web front end's own behaviour, with the API it calls switched off: errors as pages, forgery protection,
/// sign-in redirects. The pages over the real services are tested in a browser (tests/blackbox/test_web.py).
final class WebTests: XCTestCase {
    func withWeb(_ body: (Application) async throws -> Void) async throws {
        var config = TestSupport.config(service: "web")
        config.apiURL = "http://127.0.0.1:\(try freePort())"
        try await TestSupport.withApp(service: "web", config: config, configure: { app, config in
            app.directory.viewsDirectory = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Resources/Views").path + "/"
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

    func testAFormPostWithoutTheMatchingTokenIsRefused() async throws {
        try await withWeb { app in
            let form = try await app.testable().sendRequest(.GET, "/auth/signin")
            XCTAssertEqual(form.status, .ok)
            let cookie = try XCTUnwrap(form.headers.setCookie?[CSRF.cookie])
            XCTAssertTrue(cookie.isHTTPOnly)
            XCTAssertEqual(cookie.sameSite, .strict)
            XCTAssertTrue(form.body.string.contains(#"name="_csrf" value="\#(cookie.string)""#))

            var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
            let forged = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                              body: ByteBuffer(string: "email=a%40b.c&password=x"))
            XCTAssertEqual(forged.status, .forbidden)
            headers.add(name: .cookie, value: "\(CSRF.cookie)=\(cookie.string)")
            let wrong = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                             body: ByteBuffer(string: "email=a%40b.c&password=x&_csrf=guess"))
            XCTAssertEqual(wrong.status, .forbidden)
            let genuine = try await app.testable().sendRequest(.POST, "/auth/signin", headers: headers,
                                                               body: ByteBuffer(string: "email=a%40b.c&password=x&_csrf=\(cookie.string)"))
            XCTAssertEqual(genuine.status, .serviceUnavailable, "past the check, on to the (switched off) API")
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
