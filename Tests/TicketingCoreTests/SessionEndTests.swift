@testable import TicketingCore
import TicketingTesting
import XCTVapor

/// A session ends when its user signs out, not only when its token expires; and one token is one session however
/// its cookie is written.
final class SessionEndTests: XCTestCase {
    func withApp(_ body: (Application) async throws -> Void) async throws {
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.get("me") { request in request.currentUser?.id ?? "-" }
        }, body)
    }

    func me(_ app: Application, _ cookie: String) async throws -> String {
        try await app.testable().sendRequest(.GET, "/me", headers: ["Cookie": cookie]).body.string
    }

    func testARevokedSessionIsSignedOutEvenWhenRemembered() async throws {
        try await withApp { app in
            let cookie = try await sessionCookie(id: "user-9")
            try await assertEqual(try await me(app, cookie), "user-9")
            let jwt = try XCTUnwrap(SessionCookie.decode(String(cookie.dropFirst("session=".count))))
            app.sessionRevocations.insert(SignedToken.id(jwt), expiresAtMs: Date().addingTimeInterval(60).epochMilliseconds)
            try await assertEqual(try await me(app, cookie), "-")
            let other = try await sessionCookie(id: "user-9", issuedAt: Date().addingTimeInterval(-5))
            try await assertEqual(try await me(app, other), "user-9", "another sign-in of the same user is another session")
        }
    }

    /// The memory of verified sessions used to be keyed by the cookie's text: one token padded many ways made many entries.
    func testOneTokenWrittenManyWaysIsRememberedOnce() async throws {
        let revocations = SessionRevocations()
        let middleware = CurrentUserMiddleware(revocations: revocations)
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.middleware = .init()
            app.middleware.use(middleware)
            app.get("me") { request in request.currentUser?.id ?? "-" }
        }) { app in
            let cookie = try await sessionCookie(id: "user-10")
            let jwt = try XCTUnwrap(SessionCookie.decode(String(cookie.dropFirst("session=".count))))
            for padding in 0..<20 {
                let json = "{" + String(repeating: " ", count: padding) + #""jwt":"\#(jwt)"}"#
                try await assertEqual(try await me(app, "session=" + Data(json.utf8).base64EncodedString()), "user-10")
            }
            XCTAssertEqual(middleware.remembered, 1)
        }
    }

    func testTheSessionIdIsTheSameForEveryWritingOfOneToken() throws {
        let id = SignedToken.id("aaa.bbb.ccc")
        XCTAssertEqual(id, SignedToken.id("aaa.bbb.ccd"), "only the signed part names the session")
        XCTAssertNotEqual(id, SignedToken.id("aaa.bbc.ccc"))
        XCTAssertEqual(id.count, 32)
    }
}
