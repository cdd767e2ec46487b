import Foundation
import Vapor

/// Collects failed fields so that a request with several bad fields gets them all in one 400.
public struct FieldErrors: Sendable {
    public private(set) var items: [ErrorItem] = []

    public init() {}

    public mutating func add(_ field: String, _ message: String) {
        items.append(ErrorItem(message: message, field: field))
    }

    /// Throws the contract's 400 when any field failed.
    public func throwIfAny() throws {
        if !items.isEmpty { throw AppError.invalid(items) }
    }
}

public enum Validate {
    /// A pragmatic address check on ASCII text: one `@`; a local part of letters, digits and the characters RFC 5322
    /// allows unquoted, with dots only between them; a dotted domain of letters, digits and inner hyphens; at most 254
    /// characters. Anything else (spaces, control characters, NUL, quoted local parts) is refused.
    public static func isEmail(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard (1...64).contains(local.count), local.first != UInt8(ascii: "."), local.last != UInt8(ascii: "."),
              !zip(local, local.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }),
              local.allSatisfy({ isASCIIAlphanumeric($0) || localSymbols.contains($0) })
        else { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, let top = labels.last, top.count >= 2, !top.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return false
        }
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                && label.allSatisfy { isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// What an existing account's email may look like: an `@` between non-empty parts, at most 254 bytes, no
    /// whitespace or control characters. For sign-in, where the stored accounts decide.
    public static func couldBeEmail(_ value: String) -> Bool {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        return value.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !value.unicodeScalars.contains { CleanText.isForbidden($0) || $0.properties.isWhitespace }
    }

    private static let localSymbols = Set("!#$%&'*+-/=?^_`{|}~.".utf8)

    public static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    public static func trimmed(_ value: String?) -> String {
        (value ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Text a person typed, as it will be stored and shown: trimmed, in Unicode's composed form (NFC), so that the same
/// words are always the same bytes, and refused when it holds what no title needs and an attacker uses: control
/// characters (NUL, C0, DEL, C1: truncated or refused by databases, invisible on screen) and the bidirectional
/// embedding, override and isolate characters (they make text read differently from what it is).
/// Limits count what is stored: characters as people count them, and UTF-8 bytes, so a letter under thousands of
/// combining marks (one character, kilobytes stored) is refused too.
public struct CleanText: Sendable, Equatable {
    public let value: String

    public enum Problem: Error, Equatable {
        case empty, tooLong, forbiddenCharacter
    }

    public init(_ raw: String?, maxCharacters: Int, maxBytes: Int) throws(Problem) {
        let text = Validate.trimmed(raw).precomposedStringWithCanonicalMapping
        guard !text.isEmpty else { throw .empty }
        guard !text.unicodeScalars.contains(where: Self.isForbidden) else { throw .forbiddenCharacter }
        guard text.utf8.count <= maxBytes, text.count <= maxCharacters else { throw .tooLong }
        value = text
    }

    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true           // C0, DEL, C1
        case 0x202A...0x202E, 0x2066...0x2069: true   // bidi embeddings, overrides, isolates
        case 0xFFF9...0xFFFB: true                    // interlinear annotation controls
        default: false
        }
    }
}

extension Request {
    /// Decodes the JSON body, treating an empty body as `{}` so that missing input becomes field errors, not a parse
    /// error. A body is read only as JSON: any other declared type (an HTML form, text), or none, is refused with 415,
    /// so a JSON route cannot be driven by a cross-site form.
    public func decodeBody<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let bytes = body.data.map { Data(buffer: $0) } ?? Data()
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return try JSONDecoder().decode(T.self, from: Data("{}".utf8))
        }
        guard let contentType = headers.contentType, contentType.type.lowercased() == "application",
              contentType.subType.lowercased() == "json" else {
            throw AppError.unsupportedMediaType
        }
        return try JSONDecoder().decode(T.self, from: bytes)
    }
}

extension Parameters {
    /// A path id as a UUID; a malformed id is the same 404 as an unknown one.
    public func id(_ name: String = "id") throws -> UUID {
        guard let raw = get(name), let id = UUID(whole: raw) else { throw AppError.notFound }
        return id
    }
}

extension UUID {
    /// A UUID read as the whole text: `UUID(uuidString:)` reads a C string, so it takes `<uuid>\0<anything>`.
    public init?(whole text: some StringProtocol) {
        guard text.utf8.count == 36 else { return nil }
        self.init(uuidString: String(text))
    }
}
