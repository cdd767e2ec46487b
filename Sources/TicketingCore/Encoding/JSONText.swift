import NIOCore

/// JSON written straight into a response body, for a hot list whose shape is fixed: Foundation's JSONEncoder boxes
/// every value on its way through `Encodable` and cost a seventh of the ticket listing's CPU. Strings are escaped as
/// RFC 8259 requires (quote, backslash, control characters); everything else is written as it is.
public struct JSONText {
    public private(set) var buffer: ByteBuffer
    private var needsComma = false
    private static let hexDigits = Array("0123456789abcdef".utf8)

    public init(capacity: Int) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    public mutating func array(_ body: (inout JSONText) throws -> Void) rethrows {
        try container(UInt8(ascii: "["), UInt8(ascii: "]"), body)
    }

    public mutating func object(_ body: (inout JSONText) throws -> Void) rethrows {
        try container(UInt8(ascii: "{"), UInt8(ascii: "}"), body)
    }

    public mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    public mutating func field(_ key: StaticString, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        buffer.writeString(String(value))
    }

    /// A number already written as JSON (a price's `jsonNumber`).
    public mutating func field(_ key: StaticString, number: String?) {
        guard let number else { return }
        self.key(key)
        buffer.writeString(number)
    }

    private mutating func container(_ open: UInt8, _ close: UInt8, _ body: (inout JSONText) throws -> Void) rethrows {
        comma()
        buffer.writeInteger(open)
        needsComma = false
        try body(&self)
        buffer.writeInteger(close)
        needsComma = true
    }

    private mutating func comma() {
        if needsComma { buffer.writeInteger(UInt8(ascii: ",")) }
    }

    private mutating func key(_ key: StaticString) {
        comma()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(key)
        buffer.writeStaticString("\":")
        needsComma = true
    }

    private mutating func string(_ value: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var plainStart = value.utf8.startIndex
        for index in value.utf8.indices {
            let byte = value.utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            buffer.writeSubstring(Substring(value.utf8[plainStart..<index]))
            switch byte {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            default:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                buffer.writeInteger(Self.hexDigits[Int(byte & 0xF)])
            }
            plainStart = value.utf8.index(after: index)
        }
        buffer.writeSubstring(Substring(value.utf8[plainStart...]))
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
