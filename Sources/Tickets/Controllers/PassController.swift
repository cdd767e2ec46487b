import FluentSQL
import SQLKit
import TicketingCore

/// Holding and passes (CONTRACT.md section 7): the tickets a user holds, a held ticket's signed pass, the key that
/// checks passes offline, and the door's check of a pass.
struct PassController: RouteCollection, Sendable {
    let key: PassKey
    let verifications: RateLimit

    func boot(routes: any RoutesBuilder) throws {
        let tickets = routes.grouped("api", "tickets")
        tickets.get("pass-key", use: passKey)
        tickets.post("verify", use: verify)
        let signedIn = tickets.grouped(RequireAuthMiddleware())
        signedIn.get("held", use: held)
        signedIn.get(":id", "pass", use: pass)
        signedIn.post("checkins", use: checkIn)
    }

    /// The current user's held tickets (not resold), newest first by when they were handed over.
    @Sendable
    func held(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        return try await OwnTickets.page(
            request, path: "/api/tickets/held", where: "holder_id = \(bind: user.id) AND resold_at IS NULL", newestBy: "held_at"
        ) { $0.holderId == user.id && $0.resoldAt == nil }
    }

    struct PassResponse: Content {
        var ticketId: String
        var holderId: String
        var serial: Int
        var code: String
    }

    /// The holder's pass; anyone else, the holder who resold it included, is refused as the contract's 401.
    @Sendable
    func pass(_ request: Request) async throws -> PassResponse {
        let user = try request.requireUser()
        guard let ticket = try await Ticket.find(try request.parameters.id(), on: request.db) else { throw AppError.notFound }
        guard let holder = ticket.holderId, holder == user.id, ticket.resoldAt == nil else { throw AppError.notAuthorized }
        let pass = Pass(ticketId: try ticket.requireID().uuidString.lowercased(), holderId: holder, serial: ticket.serial)
        return PassResponse(ticketId: pass.ticketId, holderId: holder, serial: pass.serial, code: try key.code(for: pass))
    }

    struct KeyResponse: Content {
        var alg = "Ed25519"
        var publicKey: String
    }

    @Sendable
    func passKey(_ request: Request) async throws -> KeyResponse {
        KeyResponse(publicKey: key.publicKey)
    }

    struct CodeInput: Decodable {
        var code: String?
    }

    /// The body's `code`, which both routes need.
    private static func code(_ request: Request) throws -> String {
        guard let code = try request.decodeBody(CodeInput.self).code, !code.isEmpty else {
            throw AppError.invalid([ErrorItem(message: "Code must be provided", field: "code")])
        }
        return code
    }

    /// The pass a code carries and its ticket, if this service signed it for a ticket that is held; whether it is
    /// still the current pass is the caller's question.
    private func signedTicket(_ code: String, on db: any Database) async throws -> (Pass, Ticket)? {
        guard let pass = key.verify(code), let id = UUID(uuidString: pass.ticketId),
              let ticket = try await Ticket.find(id, on: db), ticket.holderId != nil
        else { return nil }
        return (pass, ticket)
    }

    struct Verdict: Content {
        var valid: Bool
        var reason: String?
        var ticketId: String?
        var title: String?
        var holderId: String?
    }

    /// Whether a code is a pass this service signed and still the ticket's current one. No sign-in: a door asks;
    /// counted per client address, as a forger guessing codes would ask far more often than a door.
    @Sendable
    func verify(_ request: Request) async throws -> Verdict {
        let code = try Self.code(request)
        if let address = request.clientAddress {
            try await request.statement { db in
                try await verifications.take("verify-address:" + address, on: db.sql, refusing: "Too many verifications, try again later")
            }
        }
        guard let (pass, ticket) = try await signedTicket(code, on: request.db) else { return Verdict(valid: false, reason: "invalid") }
        guard ticket.isCurrent(pass) else {
            // Signed by this service, but the ticket has changed hands since.
            return Verdict(valid: false, reason: "resold")
        }
        if ticket.checkedInAt != nil { return Verdict(valid: false, reason: "checked-in") }
        return Verdict(valid: true, ticketId: pass.ticketId, title: ticket.title, holderId: pass.holderId)
    }

    struct CheckIn: Content {
        var ticketId: String
        var checkedInAt: String
    }

    /// Admits the pass's holder once, for the ticket's issuer (the venue). The single conditional update decides:
    /// of simultaneous scans of one pass exactly one finds the ticket not yet checked in. A holder who is using the
    /// ticket is no longer selling it: its resale listing is withdrawn in the same transaction, even while reserved
    /// (the door wins, or anyone could keep the holder out by reserving the listing again and again). The orders
    /// service then cancels that listing's order, and a payment already made for it is refunded.
    @Sendable
    func checkIn(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        guard let (pass, ticket) = try await signedTicket(try Self.code(request), on: request.db) else {
            throw AppError.badRequest("Pass is not valid")
        }
        let id = try ticket.requireID()
        guard ticket.issuerId == user.id else { throw AppError.notAuthorized }
        guard ticket.isCurrent(pass) else { throw AppError.badRequest("Pass is no longer valid") }
        let now = Date()
        let admitted = try await request.transaction { tx in
            guard try await tx.db.sql.raw("""
                UPDATE tickets SET checked_in_at = \(bind: now)
                WHERE id = \(bind: id) AND checked_in_at IS NULL AND resold_at IS NULL
                  AND holder_id = \(bind: pass.holderId) AND serial = \(bind: pass.serial)
                RETURNING id
                """).first() != nil
            else { return false }
            try await Ticket.withdrawResale(of: id, at: now, in: tx)
            return true
        }
        guard admitted else {
            guard let current = try await Ticket.find(id, on: request.db), let at = current.checkedInAt else {
                throw AppError.badRequest("Pass is no longer valid")
            }
            throw AppError(.conflict, [ErrorItem(message: "Already checked in at \(ISOTimestamp.string(at))")])
        }
        return try await CheckIn(ticketId: pass.ticketId, checkedInAt: ISOTimestamp.string(now)).encodeResponse(status: .created, for: request)
    }
}
