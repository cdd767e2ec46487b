import TicketingCore

final class User: Model, @unchecked Sendable {
    static let schema = "users"

    @ID(key: .id) var id: UUID?
    /// Stored lower-cased: the unique index on it makes emails unique case-insensitively.
    @Field(key: "email") var email: String
    @Field(key: "password_hash") var passwordHash: String
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    init() {}

    init(email: String, passwordHash: String) {
        self.email = email
        self.passwordHash = passwordHash
    }
}
