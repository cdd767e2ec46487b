import SQLKit
import TicketingCore

struct UserController: RouteCollection, Sendable {
    let throttle: SignInThrottle
    let signUps: RateLimit
    /// A hash of a random password, checked against when the email is unknown.
    let decoyHash: String

    func boot(routes: any RoutesBuilder) throws {
        let users = routes.grouped("api", "users")
        users.post("signup", use: signUp)
        users.post("signin", use: signIn)
        users.post("signout", use: signOut)
        users.get("currentuser", use: currentUser)
    }

    @Sendable
    func signUp(_ request: Request) async throws -> Response {
        let input = try request.decodeBody(Credentials.self)
        let email = Validate.trimmed(input.email).lowercased()
        let password = Validate.trimmed(input.password)
        var errors = FieldErrors()
        if !Validate.isEmail(email) { errors.add("email", "Email must be valid") }
        if !(4...20).contains(password.count) { errors.add("password", "Password must be between 4 and 20 characters") }
        try errors.throwIfAny()

        if let address = request.clientAddress {
            try await request.statement { db in
                try await signUps.take("signup-address:" + address, on: db.sql, refusing: "Too many sign-ups, try again later")
            }
        }
        // Checked before hashing, which is the expensive part; the unique index still decides a race.
        if try await User.query(on: request.db).filter(\.$email == email).first() != nil {
            throw AppError.badRequest("Email in use")
        }
        let user = User(email: email, passwordHash: try await request.password.async.hash(password))
        do {
            try await request.statement { db in try await user.create(on: db) }
        } catch where DatabaseErrors.isConstraintViolation(error) {
            // The unique index decides, so two simultaneous sign-ups with one email cannot both succeed.
            throw AppError.badRequest("Email in use")
        }
        return try await startSession(for: user, status: .created, on: request)
    }

    @Sendable
    func signIn(_ request: Request) async throws -> Response {
        let input = try request.decodeBody(Credentials.self)
        let email = Validate.trimmed(input.email).lowercased()
        let password = Validate.trimmed(input.password)
        var errors = FieldErrors()
        // Not the sign-up rule: accounts made under an older, looser one must still sign in; the lookup decides.
        if !Validate.couldBeEmail(email) { errors.add("email", "Email must be valid") }
        if password.isEmpty { errors.add("password", "You must supply a password") }
        try errors.throwIfAny()

        let keys = SignInThrottle.Keys(
            email: email, device: await DeviceToken.id(in: request, for: email), address: request.clientAddress
        )
        try await request.transaction { tx in try await throttle.admit(keys, on: tx.db.sql) }
        let user = try await User.query(on: request.db).filter(\.$email == email).first()
        // An unknown email costs a hash check too, so response times do not reveal which emails exist.
        let hash = user?.passwordHash ?? decoyHash
        guard try await request.password.async.verify(password, created: hash), let user else {
            throw AppError.badRequest("Invalid credentials")
        }
        try await request.transaction { tx in try await throttle.succeeded(keys, on: tx.db.sql) }
        return try await startSession(for: user, status: .ok, on: request)
    }

    /// Clears the cookie and ends the session on the server: every service refuses its token from then on (within
    /// the bound `SessionRevocations` gives), even from a copy of the cookie taken before.
    @Sendable
    func signOut(_ request: Request) async throws -> Response {
        if let session = request.verifiedSession {
            let event = SessionRevokedEvent(sessionId: session.id, expiresAt: ISOTimestamp.string(session.expires))
            try await request.transaction { tx in
                if try await SessionRevocations.record(event, on: tx.db) { try await tx.record(event) }
            }
            request.application.sessionRevocations.insert(session.id, expiresAtMs: session.expires.epochMilliseconds)
        }
        let response = try await [String: String]().encodeResponse(status: .ok, for: request)
        request.application.sessionIssuer.endSession(response: response)
        return response
    }

    @Sendable
    func currentUser(_ request: Request) async throws -> CurrentUserResponse {
        CurrentUserResponse(currentUser: request.currentUser)
    }

    private func startSession(for user: User, status: HTTPStatus, on request: Request) async throws -> Response {
        let id = try user.requireID().uuidString.lowercased()
        let response = try await UserResponse(id: id, email: user.email).encodeResponse(status: status, for: request)
        let issuer = request.application.sessionIssuer
        try await issuer.startSession(id: id, email: user.email, on: request, response: response)
        response.headers.add(
            name: .setCookie, value: try await DeviceToken.setHeader(for: user.email, on: request, secure: issuer.secureCookie)
        )
        return response
    }
}
