import TicketingCore
import TicketingTesting
import XCTVapor

private struct Secret: Error, CustomStringConvertible {
    var description = "SELECT * FROM users -- internal detail"
}

private struct Input: Decodable {
    var title: String?
    var price: Double?
}

/// The error table of CONTRACT.md section 2, through a service configured like every real one.
final class ErrorContractTests: XCTestCase {
    func withApp(_ body: (Application) async throws -> Void) async throws {
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.get("boom") { _ -> String in throw Secret() }
            app.get("things", ":id") { request -> String in try request.parameters.id().uuidString }
            app.grouped(RequireAuthMiddleware()).get("private") { request in try request.requireUser().email }
            app.post("echo") { request -> String in
                let input = try request.decodeBody(Input.self)
                return "\(input.title ?? "-") \(input.price ?? 0)"
            }
        }, body)
    }

    func assertEnvelope(
        _ response: XCTHTTPResponse, _ status: HTTPStatus, _ message: String, field: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(response.status, status, file: file, line: line)
        XCTAssertEqual(response.headers.contentType, .json, file: file, line: line)
        XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: message, field: field)], response.body.string, file: file, line: line)
    }

    func testUnknownRouteIs404NotFound() async throws {
        try await withApp { app in
            assertEnvelope(try await app.testable().sendRequest(.GET, "/api/nothing/here"), .notFound, "Not Found")
            assertEnvelope(try await app.testable().sendRequest(.DELETE, "/boom"), .notFound, "Not Found")
        }
    }

    func testMalformedIdIs404() async throws {
        try await withApp { app in
            assertEnvelope(try await app.testable().sendRequest(.GET, "/things/not-a-uuid"), .notFound, "Not Found")
            let id = UUID()
            // Foundation alone would read these as the id: it stops at the first NUL.
            for trailing in ["%00", "%00x", "%00\(id)"] {
                assertEnvelope(try await app.testable().sendRequest(.GET, "/things/\(id)\(trailing)"), .notFound, "Not Found")
            }
            do {
                let actual = try await app.testable().sendRequest(.GET, "/things/\(id)").body.string
                XCTAssertEqual(actual, id.uuidString)
            }
        }
    }

    func testSignedOutUserIs401NotAuthorized() async throws {
        try await withApp { app in
            assertEnvelope(try await app.testable().sendRequest(.GET, "/private"), .unauthorized, "Not authorized")
            let cookie = try await sessionCookie(email: "in@example.com")
            let response = try await app.testable().sendRequest(.GET, "/private", headers: HTTPHeaders([("Cookie", cookie)]))
            XCTAssertEqual(response.body.string, "in@example.com")
        }
    }

    func testUnexpectedFailureIs500WithoutDetails() async throws {
        try await withApp { app in
            let response = try await app.testable().sendRequest(.GET, "/boom")
            assertEnvelope(response, .internalServerError, "Something went wrong")
            XCTAssertFalse(response.body.string.contains("SELECT"))
        }
    }

    func testMalformedJSONIs400() async throws {
        try await withApp { app in
            let response = try await app.testable().sendRequest(
                .POST, "/echo", headers: .json(), body: ByteBuffer(string: #"{"title": "x", "#)
            )
            assertEnvelope(response, .badRequest, "Malformed JSON body")
        }
    }

    func testWrongTypeIs400ForThatField() async throws {
        try await withApp { app in
            let response = try await app.testable().sendRequest(
                .POST, "/echo", headers: .json(), body: ByteBuffer(string: #"{"title": "x", "price": "cheap"}"#)
            )
            assertEnvelope(response, .badRequest, "Invalid value", field: "price")
        }
    }

    func testEmptyBodyAndUnknownFieldsAreAccepted() async throws {
        try await withApp { app in
            do {
                let actual = try await app.testable().sendRequest(.POST, "/echo").body.string
                XCTAssertEqual(actual, "- 0.0")
            }
            let response = try await app.testable().sendRequest(
                .POST, "/echo", headers: .json(), body: ByteBuffer(string: #"{"title": "t", "price": 2.5, "extra": [1]}"#)
            )
            XCTAssertEqual(response.body.string, "t 2.5")
        }
    }

    func testResponsesCarryTheRequestId() async throws {
        try await withApp { app in
            let response = try await app.testable().sendRequest(.GET, "/healthz", headers: ["X-Request-Id": "abc-123"])
            XCTAssertEqual(response.headers.first(name: "X-Request-Id"), "abc-123")
        }
    }
}

/// What `/healthz` and `/readyz` answer.
struct HealthReport: Decodable, Equatable {
    var status: String
    var checks: [String: String]
}

/// A database that cannot be reached is a 503 on requests and on /readyz; the process itself stays alive.
final class DatabaseDownTests: XCTestCase {
    func testUnreachablePostgresGives503() async throws {
        var config = TestSupport.config(service: "core")
        // Port 1 on loopback: nothing listens there, so every connection is refused.
        config.databaseURL = "postgres://user:pass@127.0.0.1:1/none"
        let app = try await Application.make(.testing)
        do {
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus(), migrate: false)
            app.get("count") { request in
                try await request.sql.raw("SELECT 1 AS one").first()?.decode(column: "one", as: Int.self) ?? 0
            }

            let response = try await app.testable().sendRequest(.GET, "/count")
            XCTAssertEqual(response.status, .serviceUnavailable)
            XCTAssertEqual(response.errorEnvelope?.errors, [ErrorItem(message: "Service unavailable")])

            let ready = try await app.testable().sendRequest(.GET, "/readyz")
            XCTAssertEqual(ready.status, .serviceUnavailable)
            XCTAssertEqual(try ready.content.decode(HealthReport.self), HealthReport(status: "unavailable", checks: ["database": "unavailable"]))
            do {
                let actual = try await app.testable().sendRequest(.GET, "/healthz").status
                XCTAssertEqual(actual, .ok)
            }
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
