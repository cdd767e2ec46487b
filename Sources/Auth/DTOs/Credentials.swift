import TicketingCore

/// Sign-up and sign-in body. Fields are optional so that missing ones become the contract's field errors.
struct Credentials: Decodable {
    var email: String?
    var password: String?
}

struct UserResponse: Content {
    var id: String
    var email: String
}

struct CurrentUserResponse: Content {
    var currentUser: CurrentUser?

    func encode(to encoder: any Encoder) throws {
        // `null` rather than an absent key: clients test `currentUser === null`.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(currentUser, forKey: .currentUser)
    }
}
