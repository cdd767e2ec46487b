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

    /// An amount written as plain decimal text, read as a whole: digits, then optionally a point and one or two
    /// digits (`20`, `12.5`, `9.99`). Nil for anything else (`12abc`, `1,000`, `9.99.99`, `1e3`, ` 5`, `-1`, `.5`),
    /// never a prefix of it.
    public init?(plain text: Substring) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, (1...12).contains(whole.count), whole.allSatisfy(\.isASCIIDigit),
              let dollars = Int64(whole)
        else { return nil }
        var cents = dollars * 100
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit), let value = Int64(fraction) else {
                return nil
            }
            cents += fraction.count == 1 ? value * 10 : value
        }
        self.cents = cents
    }

    /// An amount as people write prices in a form: an optional `$`, digits either plain or grouped in threes by
    /// commas, and at most two decimals (`1500`, `1,500`, `$1,500.00`, `$ 12.5`). Nil for anything else, never
    /// another amount: `1,50`, `1,5000`, `$1.500`, `12abc` are all refused.
    public init?(written text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.first == "$" { rest = rest.dropFirst().drop(while: { $0 == " " }) }
        let point = rest.firstIndex(of: ".") ?? rest.endIndex
        let groups = rest[..<point].split(separator: ",", omittingEmptySubsequences: false)
        if groups.count > 1 {
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        self.init(plain: Substring(groups.joined() + rest[point...]))
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

    /// The amount as the JSON number `encode(to:)` writes, for bodies written without an encoder.
    public var jsonNumber: String {
        cents.isMultiple(of: 100) ? String(cents / 100) : String(Double(cents) / 100)
    }

    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.cents < rhs.cents
    }

    public var description: String {
        "\(dollars)"
    }
}

extension Character {
    /// `0`…`9` only, where `isNumber` also takes other scripts' digits and fractions.
    public var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
