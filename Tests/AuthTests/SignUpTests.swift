import Auth
import TicketingCore
import TicketingTesting
import XCTVapor

final class SignUpTests: AuthTestCase {
    func testSignUpReturns201WithUserAndSessionCookie() async throws {
        try await withAuth { app in
            let response = try await signUp(app, "Buyer@Example.com", "secret")
            XCTAssertEqual(response.status, .created)
            let user = try response.content.decode([String: String].self)
            XCTAssertEqual(user["email"], "buyer@example.com")
            XCTAssertNotNil(UUID(uuidString: user["id"] ?? ""))
            XCTAssertEqual(user.count, 2, "only id and email: \(user)")

            let setCookie = try XCTUnwrap(response.headers[.setCookie].first)
            XCTAssertTrue(setCookie.hasPrefix("session="))
            for flag in ["HttpOnly", "Path=/", "SameSite=Lax"] {
                XCTAssertTrue(setCookie.contains(flag), "\(flag) missing from \(setCookie)")
            }
            XCTAssertFalse(setCookie.contains("Secure"), "plain-HTTP deployment must not mark the cookie Secure")

            let current = try await currentUser(app, cookie: response.sessionCookie)
            XCTAssertEqual(current?["email"] as? String, "buyer@example.com")
            XCTAssertEqual(current?["id"] as? String, user["id"])
        }
    }

    func testSessionCookieIsBase64JSONHoldingAnHS256TokenWithExpiry() async throws {
        try await withAuth { app in
            let response = try await signUp(app)
            let value = try XCTUnwrap(response.sessionCookie?.dropFirst("session=".count))
            let json = try XCTUnwrap(Data(base64Encoded: String(value)))
            let body = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: String])
            let jwt = try XCTUnwrap(body["jwt"])
            let parts = jwt.split(separator: ".")
            XCTAssertEqual(parts.count, 3)
            let header = try XCTUnwrap(base64URLDecode(String(parts[0])))
            XCTAssertEqual((try JSONSerialization.jsonObject(with: header) as? [String: Any])?["alg"] as? String, "HS256")
            let payload = try XCTUnwrap(base64URLDecode(String(parts[1])))
            let claims = try XCTUnwrap(JSONSerialization.jsonObject(with: payload) as? [String: Any])
            // The contract's four claims, and JWT's own token id, which tells two sign-ins in one second apart.
            XCTAssertEqual(Set(claims.keys), ["id", "email", "iat", "exp", "jti"])
            XCTAssertEqual((claims["jti"] as? String)?.count, 36)
            let iat = try XCTUnwrap(claims["iat"] as? Double)
            let exp = try XCTUnwrap(claims["exp"] as? Double)
            XCTAssertEqual(exp - iat, 7 * 86_400, accuracy: 1)
        }
    }

    func testCookieIsSecureWhenConfigured() async throws {
        try await withAuth(secureCookies: true) { app in
            let setCookie = try await signUp(app).headers[.setCookie].first ?? ""
            XCTAssertTrue(setCookie.contains("; Secure"), setCookie)
        }
    }

    func testInvalidEmailIsRejectedWithField() async throws {
        try await withAuth { app in
            for email in ["", "not-an-email", "a@b", "two@@example.com", "spa ce@example.com"] {
                let response = try await signUp(app, email, "password")
                assertErrors(response, .badRequest, [ErrorItem(message: "Email must be valid", field: "email")])
            }
        }
    }

    func testPasswordLengthIsCheckedAfterTrimming() async throws {
        try await withAuth { app in
            let expected = [ErrorItem(message: "Password must be between 4 and 20 characters", field: "password")]
            for password in ["", "abc", "   abc   ", String(repeating: "x", count: 21)] {
                assertErrors(try await signUp(app, "a@example.com", password), .badRequest, expected)
            }
            do {
                let actual = try await signUp(app, "b@example.com", "  abcd  ").status
                XCTAssertEqual(actual, .created)
            }
            do {
                let actual = try await signUp(app, "c@example.com", String(repeating: "x", count: 20)).status
                XCTAssertEqual(actual, .created)
            }
        }
    }

    func testMissingFieldsReportEveryField() async throws {
        try await withAuth { app in
            let response = try await app.testable().sendRequest(.POST, "/api/users/signup", headers: .json())
            assertErrors(response, .badRequest, [
                ErrorItem(message: "Email must be valid", field: "email"),
                ErrorItem(message: "Password must be between 4 and 20 characters", field: "password"),
            ])
        }
    }

    func testEmailInUseIsCaseInsensitive() async throws {
        try await withAuth { app in
            do {
                let actual = try await signUp(app, "same@example.com").status
                XCTAssertEqual(actual, .created)
            }
            assertErrors(try await signUp(app, "SAME@example.com"), .badRequest, [ErrorItem(message: "Email in use")])
        }
    }

    func testSimultaneousSignUpsWithOneEmailCreateOneUser() async throws {
        try await withAuth { app in
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let email = index.isMultiple(of: 2) ? "race@example.com" : "RACE@example.com"
                        let body = ByteBuffer(string: #"{"email": "\#(email)", "password": "password"}"#)
                        return try await app.testable().sendRequest(.POST, "/api/users/signup", headers: .json(), body: body).status
                    }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0 == .created }.count, 1, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == .badRequest }.count, 19, "\(statuses)")
        }
    }

    func testPasswordIsStoredAsSaltedBcryptHash() async throws {
        try await withAuth { app in
            try await signUp(app, "one@example.com", "samepass")
            try await signUp(app, "two@example.com", "samepass")
            let rows = try await app.sql.raw("SELECT password_hash FROM users ORDER BY email").all()
            let hashes = try rows.map { try $0.decode(column: "password_hash", as: String.self) }
            XCTAssertEqual(hashes.count, 2)
            XCTAssertTrue(hashes.allSatisfy { $0.hasPrefix("$2") && !$0.contains("samepass") }, "\(hashes)")
            XCTAssertNotEqual(hashes[0], hashes[1], "each hash must have its own salt")
        }
    }
}

func base64URLDecode(_ value: String) -> Data? {
    var base64 = value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    return Data(base64Encoded: base64)
}
