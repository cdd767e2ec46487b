@testable import Auth
import TicketingCore
import TicketingTesting
import XCTVapor

final class SignInTests: AuthTestCase {
    func testSignInWithRightPasswordReturns200AndCookie() async throws {
        try await withAuth { app in
            let id = try await signUp(app, "seller@example.com", "secret").content.decode([String: String].self)["id"]
            let response = try await post(app, "/api/users/signin", ["email": "SELLER@example.com", "password": " secret "])
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(try response.content.decode([String: String].self), ["id": id ?? "", "email": "seller@example.com"])
            let current = try await currentUser(app, cookie: response.sessionCookie)
            XCTAssertEqual(current?["id"] as? String, id)
        }
    }

    func testInvalidEmailAndMissingPasswordAreFieldErrors() async throws {
        try await withAuth { app in
            assertErrors(try await post(app, "/api/users/signin", ["email": "nope", "password": "x1234"]), .badRequest, [
                ErrorItem(message: "Email must be valid", field: "email"),
            ])
            assertErrors(try await post(app, "/api/users/signin", ["email": "a@example.com", "password": "   "]), .badRequest, [
                ErrorItem(message: "You must supply a password", field: "password"),
            ])
        }
    }

    func testUnknownEmailAndWrongPasswordGiveTheSameAnswer() async throws {
        try await withAuth { app in
            try await signUp(app, "known@example.com", "rightpass")
            let unknown = try await post(app, "/api/users/signin", ["email": "unknown@example.com", "password": "rightpass"])
            let wrong = try await post(app, "/api/users/signin", ["email": "known@example.com", "password": "wrongpass"])
            for response in [unknown, wrong] {
                assertErrors(response, .badRequest, [ErrorItem(message: "Invalid credentials")])
                XCTAssertTrue(response.headers[.setCookie].isEmpty)
            }
        }
    }

    func testRepeatedFailuresForOneEmailAreRefusedWith429EvenWithTheRightPassword() async throws {
        try await withAuth { app in
            try await signUp(app, "victim@example.com", "rightpass")
            for attempt in 1...5 {
                let response = try await post(app, "/api/users/signin", ["email": "victim@example.com", "password": "guess\(attempt)"])
                XCTAssertEqual(response.status, .badRequest, "attempt \(attempt)")
            }
            let blocked = try await post(app, "/api/users/signin", ["email": "victim@example.com", "password": "rightpass"])
            assertErrors(blocked, .tooManyRequests, [ErrorItem(message: "Too many failed sign-in attempts, try again later")])
            let retryAfter = try XCTUnwrap(blocked.headers.first(name: "Retry-After").flatMap(Int.init))
            XCTAssertTrue((1...900).contains(retryAfter), "\(retryAfter)")

            // Other accounts are not locked out by one account's failures.
            try await signUp(app, "other@example.com", "rightpass")
            let other = try await post(app, "/api/users/signin", ["email": "other@example.com", "password": "rightpass"])
            XCTAssertEqual(other.status, .ok)
        }
    }

    func testRepeatedFailuresFromOneAddressAcrossEmailsAreRefused() async throws {
        try await withAuth { app in
            let address: HTTPHeaders = ["X-Real-IP": "203.0.113.7"]
            for attempt in 1...AbuseLimits().signInFailuresPerAddress {
                let response = try await post(
                    app, "/api/users/signin", ["email": "user\(attempt)@example.com", "password": "guess"], headers: address
                )
                XCTAssertEqual(response.status, .badRequest, "attempt \(attempt)")
            }
            let blocked = try await post(app, "/api/users/signin", ["email": "fresh@example.com", "password": "guess"], headers: address)
            XCTAssertEqual(blocked.status, .tooManyRequests)
            let elsewhere = try await post(
                app, "/api/users/signin", ["email": "fresh@example.com", "password": "guess"], headers: ["X-Real-IP": "203.0.113.8"]
            )
            XCTAssertEqual(elsewhere.status, .badRequest)
        }
    }

    func testSuccessfulSignInForgivesEarlierFailures() async throws {
        try await withAuth { app in
            try await signUp(app, "forgetful@example.com", "rightpass")
            for _ in 1...4 {
                try await post(app, "/api/users/signin", ["email": "forgetful@example.com", "password": "wrong"])
            }
            do {
                let actual = try await post(app, "/api/users/signin", ["email": "forgetful@example.com", "password": "rightpass"]).status
                XCTAssertEqual(actual, .ok)
            }
            for _ in 1...4 {
                try await post(app, "/api/users/signin", ["email": "forgetful@example.com", "password": "wrong"])
            }
            do {
                let actual = try await post(app, "/api/users/signin", ["email": "forgetful@example.com", "password": "rightpass"]).status
                XCTAssertEqual(actual, .ok)
            }
        }
    }
}

extension XCTHTTPResponse {
    /// The `device` cookie's `name=value` pair from `Set-Cookie`.
    var deviceCookie: String? {
        headers[.setCookie].first { $0.hasPrefix("device=") }?.split(separator: ";").first.map(String.init)
    }
}

/// The throttle cannot be raced, and cannot be turned against the account's owner.
final class SignInThrottleTests: AuthTestCase {
    func testSimultaneousWrongPasswordsAreAllCountedBeforeAnyIsChecked() async throws {
        try await withAuth { app in
            try await signUp(app, "raced@example.com", "rightpass")
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for attempt in 1...12 {
                    let body = ByteBuffer(string: #"{"email":"raced@example.com","password":"guess\#(attempt)"}"#)
                    group.addTask {
                        try await app.testable().sendRequest(.POST, "/api/users/signin", headers: .json(), body: body).status
                    }
                }
                return try await group.reduce(into: [HTTPStatus]()) { $0.append($1) }
            }
            XCTAssertEqual(statuses.filter { $0 == .badRequest }.count, 5, "\(statuses)")
            XCTAssertEqual(statuses.filter { $0 == .tooManyRequests }.count, 7, "\(statuses)")
        }
    }

    func testAStrangersFailuresDoNotLockTheOwnersBrowserOut() async throws {
        try await withAuth { app in
            let owner = try await signUp(app, "owner@example.com", "rightpass")
            let device = try XCTUnwrap(owner.deviceCookie)
            XCTAssertTrue(owner.headers[.setCookie].contains { $0.hasPrefix("device=") && $0.contains("HttpOnly") })
            for attempt in 1...5 {
                try await post(app, "/api/users/signin", ["email": "owner@example.com", "password": "guess\(attempt)"])
            }
            let stranger = try await post(app, "/api/users/signin", ["email": "owner@example.com", "password": "rightpass"])
            XCTAssertEqual(stranger.status, .tooManyRequests, "a browser that never signed in waits out the window")
            let ownBrowser = try await post(app, "/api/users/signin", ["email": "owner@example.com", "password": "rightpass"], cookie: device)
            XCTAssertEqual(ownBrowser.status, .ok)

            // The device token only counts its own guesses apart: it buys no more of them.
            for attempt in 1...5 {
                let guess = try await post(app, "/api/users/signin", ["email": "owner@example.com", "password": "g\(attempt)"], cookie: device)
                XCTAssertEqual(guess.status, .badRequest)
            }
            let sixth = try await post(app, "/api/users/signin", ["email": "owner@example.com", "password": "g6"], cookie: device)
            XCTAssertEqual(sixth.status, .tooManyRequests)

            // A device token is for one account only.
            try await signUp(app, "other@example.com", "rightpass")
            for _ in 1...5 { try await post(app, "/api/users/signin", ["email": "other@example.com", "password": "nope"]) }
            let borrowed = try await post(app, "/api/users/signin", ["email": "other@example.com", "password": "rightpass"], cookie: device)
            XCTAssertEqual(borrowed.status, .tooManyRequests)
        }
    }

    func testSignUpsFromOneAddressAreLimitedAndEmailInUseCountsToo() async throws {
        try await withAuth(limits: AbuseLimits(signUpsPerAddress: 3)) { app in
            let address: HTTPHeaders = ["X-Real-IP": "198.51.100.4"]
            let first = try await post(app, "/api/users/signup", ["email": "one@example.com", "password": "secret"], headers: address)
            XCTAssertEqual(first.status, .created)
            for _ in 1...2 {
                let again = try await post(app, "/api/users/signup", ["email": "one@example.com", "password": "secret"], headers: address)
                assertErrors(again, .badRequest, [ErrorItem(message: "Email in use")])
            }
            let refused = try await post(app, "/api/users/signup", ["email": "two@example.com", "password": "secret"], headers: address)
            assertErrors(refused, .tooManyRequests, [ErrorItem(message: "Too many sign-ups, try again later")])
            XCTAssertNotNil(refused.headers.first(name: "Retry-After").flatMap(Int.init))
            let elsewhere = try await post(
                app, "/api/users/signup", ["email": "two@example.com", "password": "secret"], headers: ["X-Real-IP": "198.51.100.5"]
            )
            XCTAssertEqual(elsewhere.status, .created)
            // What is not an address is not a key an attacker can vary.
            let spoofed = try await post(
                app, "/api/users/signup", ["email": "three@example.com", "password": "secret"], headers: ["X-Real-IP": "x\u{1}y"]
            )
            XCTAssertEqual(spoofed.status, .created)
        }
    }
}

final class SessionTests: AuthTestCase {
    func testSignOutReturnsEmptyObjectAndClearsTheCookie() async throws {
        try await withAuth { app in
            let response = try await app.testable().sendRequest(.POST, "/api/users/signout")
            XCTAssertEqual(response.status, .ok)
            XCTAssertEqual(response.body.string, "{}")
            XCTAssertEqual(
                response.headers[.setCookie],
                ["session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"]
            )
        }
    }

    /// A cookie copied before sign-out used to work for the rest of its seven days.
    func testSignOutEndsTheSessionOnTheServerAndAnnouncesIt() async throws {
        try await withAuth { app in
            let signedUp = try await signUp(app, "leaving@example.com", "secret")
            let cookie = try XCTUnwrap(signedUp.sessionCookie)
            try await assertEqual(try await currentUser(app, cookie: cookie)?["email"] as? String, "leaving@example.com")
            let out = try await app.testable().sendRequest(.POST, "/api/users/signout", headers: ["Cookie": cookie])
            XCTAssertEqual(out.status, .ok)
            let copied = try await currentUser(app, cookie: cookie)
            XCTAssertNil(copied, "the copy taken before sign-out is signed out too")
            let rows = try await app.db.sql.raw("SELECT session_id FROM revoked_sessions").all()
            XCTAssertEqual(rows.count, 1)
            let outbox = try await app.db.sql.raw("SELECT subject FROM outbox").all().map { try $0.decode(column: "subject", as: String.self) }
            XCTAssertEqual(outbox, ["session:revoked"], "every other service hears of it")
            let again = try await app.testable().sendRequest(.POST, "/api/users/signout", headers: ["Cookie": cookie])
            XCTAssertEqual(again.status, .ok)
            let signedIn = try await post(app, "/api/users/signin", ["email": "leaving@example.com", "password": "secret"])
            try await assertEqual(try await currentUser(app, cookie: signedIn.sessionCookie)?["email"] as? String, "leaving@example.com")
        }
    }

    func testCurrentUserIsNullWithoutACookie() async throws {
        try await withAuth { app in
            let response = try await app.testable().sendRequest(.GET, "/api/users/currentuser")
            XCTAssertEqual(response.body.string, #"{"currentUser":null}"#)
        }
    }

    func testCurrentUserShowsIdEmailAndIssuedAt() async throws {
        try await withAuth { app in
            let issued = Date(timeIntervalSince1970: 1_790_000_000)
            let cookie = try await sessionCookie(id: "user-1", email: "me@example.com", lifetime: 10 * 365 * 86_400, issuedAt: issued)
            let current = try await currentUser(app, cookie: cookie)
            XCTAssertEqual(current?["id"] as? String, "user-1")
            XCTAssertEqual(current?["email"] as? String, "me@example.com")
            XCTAssertEqual(current?["iat"] as? Int, 1_790_000_000)
            XCTAssertEqual(current?.count, 3)
        }
    }

    func testInvalidTokensCountAsSignedOut() async throws {
        try await withAuth { app in
            let valid = try await sessionCookie()
            let expired = try await sessionCookie(lifetime: 60, issuedAt: Date().addingTimeInterval(-3600))
            let wrongKey = try await sessionCookie(key: "another-key-that-is-long-enough-for-hs256")
            let jwt = try XCTUnwrap(SessionCookie.decode(String(valid.dropFirst("session=".count))))
            let parts = jwt.split(separator: ".").map(String.init)
            // Same header and signature, payload changed to another user.
            let forgedPayload = Data(#"{"id":"admin","email":"admin@example.com","iat":1,"exp":9999999999}"#.utf8)
                .base64EncodedString().replacingOccurrences(of: "=", with: "")
            let tampered = [parts[0], forgedPayload, parts[2]].joined(separator: ".")
            let noneHeader = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            let algNone = [noneHeader, parts[1], ""].joined(separator: ".")

            let result = try await currentUser(app, cookie: valid)
            XCTAssertNotNil(result)
            for (name, cookie) in [
                ("expired", expired),
                ("wrong key", wrongKey),
                ("tampered", "session=" + SessionCookie.encode(jwt: tampered)),
                ("alg none", "session=" + SessionCookie.encode(jwt: algNone)),
                ("not base64", "session=%%%"),
                ("not json", "session=" + Data("jwt".utf8).base64EncodedString()),
            ] {
                let current = try await currentUser(app, cookie: cookie)
                XCTAssertNil(current, name)
            }
        }
    }

    /// A verified cookie is remembered, but only until its token expires.
    func testARememberedSessionStillEndsWhenItsTokenExpires() async throws {
        try await withAuth { app in
            let cookie = try await sessionCookie(id: "user-2", lifetime: 2, issuedAt: Date())
            for _ in 0..<3 {
                let current = try await currentUser(app, cookie: cookie)
                XCTAssertEqual(current?["id"] as? String, "user-2")
            }
            try await Task.sleep(for: .seconds(3))
            let current = try await currentUser(app, cookie: cookie)
            XCTAssertNil(current)
        }
    }

    func testTheSessionCookieIsFoundAmongOtherCookies() async throws {
        try await withAuth { app in
            let cookie = try await sessionCookie(id: "user-3")
            for header in ["theme=dark; \(cookie)", "\(cookie);lang=en", "sessionx=1; \(cookie)"] {
                let current = try await currentUser(app, cookie: header)
                XCTAssertEqual(current?["id"] as? String, "user-3", header)
            }
            let empty = try await currentUser(app, cookie: "session=; theme=dark")
            XCTAssertNil(empty)
        }
    }
}
