import TicketingCore

/// Resale (CONTRACT.md section 7): a holder lists a held ticket again, as a new ticket on sale that names the one it
/// resells. It is bought like any ticket; its payment hands the ticket over (see `PaymentCreatedListener`).
struct ResaleController: RouteCollection, Sendable {
    /// `RESALE_PRICE_CAP_PERCENT`: a resale may ask at most this share of what its holder paid.
    let capPercent: Int

    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("api", "tickets").grouped(RequireAuthMiddleware()).post(":id", "resale", use: resell)
    }

    /// Checks in order: signed in, a valid price, the ticket exists, the user holds it (401 otherwise), not checked
    /// in, within the cap, no other resale of it listed. The held ticket is locked while the listing is written, and
    /// the unique index on open resales settles simultaneous listings of one ticket.
    @Sendable
    func resell(_ request: Request) async throws -> Response {
        let user = try request.requireUser()
        var errors = FieldErrors()
        let price = ValidTicket.price(try request.decodeBody(ResaleInput.self).price, errors: &errors)
        try errors.throwIfAny()
        let asked = price!
        let id = try request.parameters.id()
        let capPercent = Int64(capPercent)
        let listing = try await request.transaction { tx in
            guard let held = try await Ticket.findForUpdate(id, on: tx.db) else { throw AppError.notFound }
            guard held.holderId == user.id, held.resoldAt == nil else { throw AppError.notAuthorized }
            guard held.checkedInAt == nil else { throw AppError.badRequest("Cannot resell a checked-in ticket") }
            guard asked.cents * 100 <= held.paid.cents * capPercent else {
                throw AppError.invalid([ErrorItem(message: "Price exceeds the resale cap", field: "price")])
            }
            let listing = Ticket(title: held.title, price: asked, userId: user.id)
            listing.resaleOf = id
            listing.faceValueCents = held.paid.cents
            listing.issuer = held.issuerId
            guard try await listing.createIfFirstResale(on: tx.db) else { throw AppError.badRequest("Ticket is already listed for resale") }
            try await tx.record(try listing.createdEvent)
            return listing
        }
        return try await TicketResponse(listing).encodeResponse(status: .created, for: request)
    }
}
