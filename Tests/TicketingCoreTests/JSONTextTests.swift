import Foundation
import NIOCore
import TicketingCore
import XCTest

final class JSONTextTests: XCTestCase {
    func testStringsRoundTripThroughAJSONParserWhateverTheyHold() throws {
        let hostile = "\"quoted\" \\ back\\slash\n\r\t\u{0}\u{1}\u{1F} é 🎟️ \u{7F} </script>"
        var text = JSONText(capacity: 16)
        text.array { text in
            text.object { text in
                text.field("s", hostile)
                text.field("n", 42)
                text.field("absent", nil as String?)
                text.field("price", number: "12.5")
            }
            text.object { _ in }
        }
        let body = String(buffer: text.buffer)
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]], body)
        XCTAssertEqual(parsed.count, 2)
        XCTAssertEqual(parsed[0]["s"] as? String, hostile)
        XCTAssertEqual(parsed[0]["n"] as? Int, 42)
        XCTAssertEqual(parsed[0]["price"] as? Double, 12.5)
        XCTAssertEqual(Set(parsed[0].keys), ["s", "n", "price"], "an absent value writes no key")
        XCTAssertTrue(parsed[1].isEmpty)
        XCTAssertFalse(body.contains("\n"), "control characters are escaped, not written raw")
    }
}
