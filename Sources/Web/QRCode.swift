import CQRencode
import Foundation

/// A pass's code as a QR code (libqrencode, error correction M), drawn as SVG: one path of unit squares, with the
/// four-module quiet zone scanners need.
enum QRCode {
    static func svg(_ text: String) -> String? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let quiet = 4
        var path = ""
        for y in 0..<width {
            for x in 0..<width where code.pointee.data[y * width + x] & 1 == 1 {
                path += "M\(x + quiet),\(y + quiet)h1v1h-1z"
            }
        }
        let size = width + 2 * quiet
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" shape-rendering="crispEdges">\
            <rect width="\(size)" height="\(size)" fill="#fff"/><path d="\(path)" fill="#000"/></svg>
            """
    }

    /// The SVG as a `data:` URL for an `<img>` (the pages' Content-Security-Policy allows `data:` images).
    static func dataURL(_ text: String) -> String? {
        svg(text).map { "data:image/svg+xml;base64," + Data($0.utf8).base64EncodedString() }
    }
}
