import TicketingCore
import TicketingTesting
import XCTVapor

/// Input an attacker (or a careless client) sends: read whole and strictly, or refused; never misread.
final class HostileInputTests: XCTestCase {
    func testPlainMoneyIsReadWholeOrNotAtAll() {
        for (text, cents) in [("20", 2_000), ("12.5", 1_250), ("9.99", 999), ("0.01", 1), ("1000000", 100_000_000), ("007", 700)] {
            XCTAssertEqual(Money(plain: Substring(text))?.cents, Int64(cents), text)
        }
        for text in ["12abc", "1,000", "9.99.99", "1e3", " 5", "5 ", "-1", "+1", ".5", "5.", "1.234", "", "٣", "1_000", "0x10", "99999999999999"] {
            XCTAssertNil(Money(plain: Substring(text)), text)
        }
    }

    func testWrittenPricesAcceptWhatPeopleTypeAndNothingElse() {
        for text in ["1500", "1,500", "$1,500.00", "$1500", "$ 1,500", " 1500 ", "1,500.0"] {
            XCTAssertEqual(Money(written: text)?.cents, 150_000, text)
        }
        XCTAssertEqual(Money(written: "$1,234,567.89")?.cents, 123_456_789)
        for text in ["1,50", "1,5000", "$1.500,00", "12abc", "9.99.99", ",500", "1,,500", "$$5", "5$", "1 500", "1,500.", "€5"] {
            XCTAssertNil(Money(written: text), text)
        }
    }

    func testTextIsComposedAndRefusedWithControlOrDirectionCharacters() throws {
        XCTAssertEqual(try CleanText("  Cafe\u{301} ", maxCharacters: 200, maxBytes: 800).value, "Caf\u{E9}")
        for bad in ["a\u{0}b", "bell\u{7}", "del\u{7F}", "c1\u{85}x", "rtl\u{202E}gnp.exe", "iso\u{2066}late", "tab\tin"] {
            XCTAssertThrowsError(try CleanText(bad, maxCharacters: 200, maxBytes: 800), bad) { error in
                XCTAssertEqual(error as? CleanText.Problem, .forbiddenCharacter)
            }
        }
        let buried = "a" + String(repeating: "\u{301}", count: 3_000)
        XCTAssertEqual(buried.count, 1)
        XCTAssertThrowsError(try CleanText(buried, maxCharacters: 200, maxBytes: 800)) { XCTAssertEqual($0 as? CleanText.Problem, .tooLong) }
        XCTAssertThrowsError(try CleanText(String(repeating: "x", count: 201), maxCharacters: 200, maxBytes: 800))
        XCTAssertNoThrow(try CleanText(String(repeating: "界", count: 200), maxCharacters: 200, maxBytes: 800))
        XCTAssertThrowsError(try CleanText(" \n ", maxCharacters: 200, maxBytes: 800)) { XCTAssertEqual($0 as? CleanText.Problem, .empty) }
    }

    func testEmailsAreASCIIAddressesWithoutControlCharacters() {
        for good in ["a@example.com", "first.last+tag@sub.example.co", "o'brien@example.ie", "x@xn--p1ai.xn--p1ai"] {
            XCTAssertTrue(Validate.isEmail(good), good)
        }
        for bad in ["a\u{0}b@example.com", "a@exa\u{0}mple.com", "a b@example.com", ".a@example.com", "a..b@example.com",
                    "a@example", "a@-example.com", "a@example.123", "a@@example.com", "\"a\"@example.com", "ü@example.com",
                    "a@exämple.com", "a\r\n@example.com", String(repeating: "a", count: 65) + "@example.com"] {
            XCTAssertFalse(Validate.isEmail(bad), bad)
        }
    }

    func testTheQuotedCookieFormIsReadAndOversizedCookiesAreNot() {
        XCTAssertEqual(SessionCookie.value(in: ["Cookie": #"a=1; session="abc=""#]), "abc=")
        XCTAssertEqual(SessionCookie.value(in: ["Cookie": "session=abc="]), "abc=")
        XCTAssertNil(SessionCookie.value(in: ["Cookie": #"session="""#]))
        XCTAssertNil(SessionCookie.value(in: ["Cookie": "session=" + String(repeating: "A", count: 4_300)]))
        XCTAssertNil(SessionCookie.value(in: ["Cookie": "session=mine; session=planted"]), "two of one cookie is neither")
        XCTAssertNil(SessionCookie.value(in: HTTPHeaders([("Cookie", "session=mine"), ("Cookie", "session=planted")])))
        XCTAssertEqual(SessionCookie.value(in: ["Cookie": "sessionx=1; session=mine"]), "mine")
    }

    func testJSONRoutesRefuseOtherContentTypesWith415() async throws {
        struct Input: Decodable { var title: String? }
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.post("echo") { request -> String in try request.decodeBody(Input.self).title ?? "-" }
        }) { app in
            for contentType in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/jsonx"] {
                let response = try await app.testable().sendRequest(
                    .POST, "/echo", headers: ["Content-Type": contentType], body: ByteBuffer(string: "title=x")
                )
                XCTAssertEqual(response.status, .unsupportedMediaType, contentType)
                XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: "Content-Type must be application/json")])
            }
            let missing = try await app.testable().sendRequest(.POST, "/echo", body: ByteBuffer(string: #"{"title":"x"}"#))
            XCTAssertEqual(missing.status, .unsupportedMediaType)
            let json = try await app.testable().sendRequest(
                .POST, "/echo", headers: ["Content-Type": "application/json; charset=utf-8"], body: ByteBuffer(string: #"{"title":"x"}"#)
            )
            XCTAssertEqual(json.body.string, "x")
            let empty = try await app.testable().sendRequest(.POST, "/echo", headers: ["Content-Type": "text/plain"])
            XCTAssertEqual(empty.body.string, "-", "an empty body is no body, whatever its declared type")
        }
    }

    func testNoResponseHeaderCarriesALineBreakAndEveryResponseIsNosniff() async throws {
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.get("echo") { request -> Response in
                let response = Response(status: .seeOther)
                response.headers.replaceOrAdd(name: .location, value: request.query[String.self, at: "to"] ?? "/")
                return response
            }
        }) { app in
            let split = try await app.testable().sendRequest(.GET, "/echo?to=/x%0D%0ASet-Cookie:%20session=planted")
            XCTAssertEqual(split.status, .internalServerError)
            XCTAssertNil(split.headers.first(name: .location))
            XCTAssertEqual(split.headers.setCookie?.all.isEmpty ?? true, true)
            XCTAssertEqual(split.headers.first(name: "X-Content-Type-Options"), "nosniff")
            let plain = try await app.testable().sendRequest(.GET, "/echo?to=/x")
            XCTAssertEqual(plain.headers.first(name: .location), "/x")
            XCTAssertEqual(plain.headers.first(name: "X-Content-Type-Options"), "nosniff")
        }
    }
}
