import SQLKit
import TicketingCore

struct UserController: RouteCollection, Sendable {
    let throttle: SignInThrottle
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

        let user = User(email: email, passwordHash: try await request.password.async.hash(password))
        do {
            try await user.create(on: request.db)
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
        if !Validate.isEmail(email) { errors.add("email", "Email must be valid") }
        if password.isEmpty { errors.add("password", "You must supply a password") }
        try errors.throwIfAny()

        let address = request.clientAddress
        try await throttle.check(email: email, address: address, on: request.sql)
        let user = try await User.query(on: request.db).filter(\.$email == email).first()
        // An unknown email costs a hash check too, so response times do not reveal which emails exist.
        let hash = user?.passwordHash ?? decoyHash
        guard try await request.password.async.verify(password, created: hash), let user else {
            try await throttle.recordFailure(email: email, address: address, on: request.sql)
            throw AppError.badRequest("Invalid credentials")
        }
        try await throttle.recordSuccess(email: email, on: request.sql)
        return try await startSession(for: user, status: .ok, on: request)
    }

    @Sendable
    func signOut(_ request: Request) async throws -> Response {
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
        try await request.application.sessionIssuer.startSession(id: id, email: user.email, on: request, response: response)
        return response
    }
}

extension Request {
    /// The client's address: the ingress's `X-Real-IP` when present (nginx sets it and overwrites any client value),
    /// else the peer.
    var clientAddress: String? {
        headers.first(name: "X-Real-IP") ?? remoteAddress?.ipAddress
    }
}
