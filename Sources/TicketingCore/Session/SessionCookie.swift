import Foundation
import Vapor

/// The `session` cookie: base64 of `{"jwt": "<token>"}`, as the seed's cookie-session wrote it.
public enum SessionCookie {
    public static let name = "session"

    private struct Body: Codable {
        var jwt: String
    }

    public static func encode(jwt: String) -> String {
        // A struct of one string always encodes.
        let json = (try? JSONEncoder().encode(Body(jwt: jwt))) ?? Data()
        return json.base64EncodedString()
    }

    /// The token in a cookie value, or nil when the value is not the expected shape.
    public static func decode(_ value: String) -> String? {
        guard let data = Data(base64Encoded: value),
              let body = try? JSONDecoder().decode(Body.self, from: data)
        else { return nil }
        return body.jwt
    }

    /// Longer values are refused unread: a real session cookie is a few hundred bytes, and every byte of one is
    /// decoded, hashed and verified.
    public static let maxValueLength = 1_024

    /// The `session` cookie's value in a request's `Cookie` headers, found without parsing every other cookie.
    public static func value(in headers: HTTPHeaders) -> String? {
        RequestCookie.value(of: name, in: headers)
    }

    /// `Set-Cookie` for a new session. Max-Age matches the token's lifetime so a browser keeps the user signed in.
    public static func setHeader(jwt: String, maxAge: Int, secure: Bool) -> String {
        var parts = ["\(name)=\(encode(jwt: jwt))", "Path=/", "Max-Age=\(maxAge)", "HttpOnly", "SameSite=Lax"]
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }

    /// `Set-Cookie` that clears the session, exactly as CONTRACT.md gives it.
    public static let clearHeader = "\(name)=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
}

/// One cookie of a request, read the same way wherever it is read. RFC 6265 lets a value be sent in double quotes
/// (`session="…"`, as some clients send a value ending in `=`); the quotes are not part of it. A cookie sent twice
/// (another party can plant a second one under a longer path) is ambiguous, and counts as not sent: otherwise one
/// reader could take the first and another the last.
public enum RequestCookie {
    public static func value(of name: String, in headers: HTTPHeaders, maxLength: Int = SessionCookie.maxValueLength) -> String? {
        var found: Substring?
        for header in headers[.cookie] {
            for pair in header.split(separator: ";") {
                let pair = pair.drop { $0 == " " }
                guard pair.hasPrefix(name), pair.dropFirst(name.count).first == "=" else { continue }
                guard found == nil else { return nil }
                var value = pair.dropFirst(name.count + 1)
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                found = value
            }
        }
        guard let found, !found.isEmpty, found.utf8.count <= maxLength else { return nil }
        return String(found)
    }
}

/// What names a signed token (a session, a device): its signed part (header and payload) hashed. Only the signature
/// checks that part, so however the token is written (other trailing bits in its signature, other padding in the
/// cookie), one token has one id; and the id reveals nothing the token grants.
public enum SignedToken {
    public static func id(_ jwt: String) -> String {
        let signed = jwt.split(separator: ".", omittingEmptySubsequences: false).prefix(2).joined(separator: ".")
        return SHA256.hash(data: Data(signed.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }
}
