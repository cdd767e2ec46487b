import Auth
import TicketingCore
import TicketingTesting
import XCTVapor

class AuthTestCase: XCTestCase {
    func withAuth(
        secureCookies: Bool = false, limits: AbuseLimits = AbuseLimits(), _ body: (Application) async throws -> Void
    ) async throws {
        try await TestSupport.withApp(
            service: "auth",
            config: TestSupport.config(service: "auth", secureCookies: secureCookies, limits: limits),
            configure: { app, config in try await app.wireForTesting(.auth, config, bus: InMemoryBus()) },
            body
        )
    }

    @discardableResult
    func post(
        _ app: Application, _ path: String, _ body: [String: String], cookie: String? = nil,
        headers extra: HTTPHeaders = [:]
    ) async throws -> XCTHTTPResponse {
        var headers = HTTPHeaders.json(cookie: cookie)
        headers.add(contentsOf: extra)
        let data = try JSONEncoder().encode(body)
        return try await app.testable().sendRequest(.POST, path, headers: headers, body: ByteBuffer(data: data))
    }

    @discardableResult
    func signUp(_ app: Application, _ email: String = "test@test.com", _ password: String = "password") async throws -> XCTHTTPResponse {
        try await post(app, "/api/users/signup", ["email": email, "password": password])
    }

    func currentUser(_ app: Application, cookie: String?) async throws -> [String: Any]? {
        var headers = HTTPHeaders()
        if let cookie { headers.add(name: .cookie, value: cookie) }
        let response = try await app.testable().sendRequest(.GET, "/api/users/currentuser", headers: headers)
        XCTAssertEqual(response.status, .ok)
        let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        XCTAssertTrue(json?.keys.contains("currentUser") ?? false, "currentUser key must be present, even when null")
        return json?["currentUser"] as? [String: Any]
    }

    func assertErrors(
        _ response: XCTHTTPResponse, _ status: HTTPStatus, _ expected: [ErrorItem],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(response.status, status, file: file, line: line)
        XCTAssertEqual(response.errorEnvelope?.errors, expected, response.body.string, file: file, line: line)
    }
}
