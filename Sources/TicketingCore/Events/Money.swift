import Foundation

/// An amount in dollars kept as whole cents, so no cent is ever lost or invented. On the wire it is a JSON number
/// in dollars with at most two decimals (`20`, `12.5`, `9.99`), as the contract gives prices.
public struct Money: Codable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let cents: Int64

    public init(cents: Int64) {
        self.cents = cents
    }

    /// Nil when `dollars` has more than two decimals or does not fit.
    public init?(dollars: Decimal) {
        var scaled = dollars * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded == scaled, let cents = Int64(exactly: NSDecimalNumber(decimal: rounded).int64Value),
              Decimal(cents) == rounded
        else { return nil }
        self.cents = cents
    }

    public var dollars: Decimal {
        Decimal(cents) / 100
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let money = Money(dollars: try container.decode(Decimal.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "amounts have at most 2 decimals")
        }
        self = money
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        // Cheaper than encoding a Decimal, and as exact: whole dollars are integers, and a Double's shortest form of
        // cents / 100 is the two-decimal amount itself for any price below 2^53 cents.
        if cents.isMultiple(of: 100) {
            try container.encode(cents / 100)
        } else {
            try container.encode(Double(cents) / 100)
        }
    }

    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.cents < rhs.cents
    }

    public var description: String {
        "\(dollars)"
    }
}
