import Vapor

/// One entry of the contract's error envelope: `{"message": ..., "field": ...}`.
public struct ErrorItem: Content, Equatable, Sendable {
    public var message: String
    public var field: String?

    public init(message: String, field: String? = nil) {
        self.message = message
        self.field = field
    }
}

/// The contract's error envelope: `{"errors": [...]}`.
public struct ErrorEnvelope: Content, Sendable {
    public var errors: [ErrorItem]

    public init(errors: [ErrorItem]) {
        self.errors = errors
    }
}

/// An error a handler throws on purpose; its status and messages reach the client unchanged.
public struct AppError: Error, Sendable, Equatable {
    public var status: HTTPResponseStatus
    public var errors: [ErrorItem]
    public var headers: HTTPHeaders

    public init(_ status: HTTPResponseStatus, _ errors: [ErrorItem], headers: HTTPHeaders = [:]) {
        self.status = status
        self.errors = errors
        self.headers = headers
    }

    public static let notFound = AppError(.notFound, [ErrorItem(message: "Not Found")])
    public static let notAuthorized = AppError(.unauthorized, [ErrorItem(message: "Not authorized")])
    public static let unavailable = AppError(.serviceUnavailable, [ErrorItem(message: "Service unavailable")])
    public static let internalFailure = AppError(.internalServerError, [ErrorItem(message: "Something went wrong")])
    public static let unsupportedMediaType = AppError(
        .unsupportedMediaType, [ErrorItem(message: "Content-Type must be application/json")]
    )

    /// A limit on how often something may be done was reached: 429, with when to try again.
    public static func tooManyRequests(_ message: String, retryAfter seconds: Int) -> AppError {
        AppError(.tooManyRequests, [ErrorItem(message: message)], headers: ["Retry-After": "\(max(1, seconds))"])
    }

    /// A broken business rule: 400 with the rule's message and no field.
    public static func badRequest(_ message: String) -> AppError {
        AppError(.badRequest, [ErrorItem(message: message)])
    }

    /// Failed input validation: 400 with one entry per failed field.
    public static func invalid(_ items: [ErrorItem]) -> AppError {
        AppError(.badRequest, items)
    }
}
