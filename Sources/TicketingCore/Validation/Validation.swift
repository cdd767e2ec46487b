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
    /// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254 characters.
    public static func isEmail(_ value: String) -> Bool {
        guard value.count <= 254, !value.contains(where: \.isWhitespace) else { return false }
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
        } && labels.last!.count >= 2
    }

    public static func trimmed(_ value: String?) -> String {
        (value ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Request {
    /// Decodes the JSON body, treating an empty body as `{}` so that missing input becomes field errors, not a parse error.
    /// A body that is not JSON is decoded by its content type (browser forms), or refused with 415.
    public func decodeBody<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        let bytes = body.data.map { Data(buffer: $0) } ?? Data()
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return try JSONDecoder().decode(T.self, from: Data("{}".utf8))
        }
        if let contentType = headers.contentType, contentType != .json {
            return try content.decode(T.self)
        }
        return try JSONDecoder().decode(T.self, from: bytes)
    }
}

extension Parameters {
    /// A path id as a UUID; a malformed id is the same 404 as an unknown one.
    public func id(_ name: String = "id") throws -> UUID {
        guard let raw = get(name), let id = UUID(uuidString: raw) else { throw AppError.notFound }
        return id
    }
}
