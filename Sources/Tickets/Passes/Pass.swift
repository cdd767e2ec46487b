import Crypto
import Foundation
import TicketingCore

/// What a holder shows at the door (CONTRACT.md section 7). Its code is
/// `P1.<ticket id>.<holder id>.<serial>.<signature>`: the first four parts are plain ASCII, and the signature is
/// Ed25519 over exactly those bytes, in base64url without padding. A door that has the public key
/// (`GET /api/tickets/pass-key`) checks a code offline: split at the last `.`, verify. Whether it is still the
/// current pass (not resold, not checked in) only the tickets service knows.
struct Pass: Equatable, Sendable {
    static let prefix = "P1"
    /// Far more than a pass needs (about 170 bytes), so a code is refused before anything is decoded.
    static let maxCodeBytes = 512

    var ticketId: String
    var holderId: String
    var serial: Int

    var signedPart: String { "\(Self.prefix).\(ticketId).\(holderId).\(serial)" }

    /// A lowercase UUID; holder ids are the auth service's user ids.
    static func isID(_ text: Substring) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { $0 == UInt8(ascii: "-") || Validate.isASCIIAlphanumeric($0) }
    }

    /// The pass a code names, read whole: exactly five parts of the right shapes, or nil. The signature is not
    /// checked here (see `PassKey.verify`).
    static func parse(_ code: String) -> (pass: Pass, signature: Data)? {
        guard code.utf8.count <= maxCodeBytes else { return nil }
        let parts = code.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == Self.prefix,
              let ticket = UUID(uuidString: String(parts[1])), parts[1] == ticket.uuidString.lowercased(),
              isID(parts[2]),
              (1...9).contains(parts[3].count), parts[3].allSatisfy(\.isASCIIDigit), parts[3] == "0" || parts[3].first != "0",
              let serial = Int(parts[3]),
              let signature = Base64URL.decode(parts[4]), signature.count == 64
        else { return nil }
        return (Pass(ticketId: String(parts[1]), holderId: String(parts[2]), serial: serial), signature)
    }
}

/// The tickets service's signing key for passes.
struct PassKey: Sendable {
    let privateKey: Curve25519.Signing.PrivateKey

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// From 64 hex digits: the 32-byte seed of an Ed25519 key.
    init(hex: String) throws {
        let digits = Array(hex.utf8)
        guard digits.count == 64, let seed = Self.bytes(fromHex: digits) else {
            throw Invalid(description: "PASS_SIGNING_KEY must be 64 hex digits (an Ed25519 seed)")
        }
        privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    private static func bytes(fromHex digits: [UInt8]) -> Data? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes = Data()
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    var publicKey: String { Base64URL.encode(privateKey.publicKey.rawRepresentation) }

    func code(for pass: Pass) throws -> String {
        "\(pass.signedPart).\(Base64URL.encode(try privateKey.signature(for: Data(pass.signedPart.utf8))))"
    }

    /// The pass a code carries if this key signed it; nil for anything forged, tampered with or malformed.
    func verify(_ code: String) -> Pass? {
        guard let (pass, signature) = Pass.parse(code),
              privateKey.publicKey.isValidSignature(signature, for: Data(pass.signedPart.utf8))
        else { return nil }
        return pass
    }
}

enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Unpadded base64url in its one canonical spelling: any other character, padding, or a last character whose
    /// unused bits are set (which decodes to the same bytes) is not a code this service wrote, so no two codes carry
    /// one signature.
    static func decode(_ text: Substring) -> Data? {
        guard text.utf8.allSatisfy({ Validate.isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        guard let data = Data(base64Encoded: standard), encode(data) == text else { return nil }
        return data
    }
}
