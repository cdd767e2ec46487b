import Foundation
import Logging
import Synchronization
import TicketingCore
import XCTest

final class JSONLogHandlerTests: XCTestCase {
    func testEachLineIsOneJSONObjectWithMessageLevelAndMetadata() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "orders") { label in JSONLogHandler(label: label) { line in lines.withLock { $0.append(line) } } }
        logger[metadataKey: "service"] = "orders"
        logger.warning("payment left \"unsettled\"\nretrying", metadata: ["order-id": "o-1", "attempt": "\(2)", "ids": ["a", "b"]])
        logger.debug("below the level: not written")

        let written = lines.withLock { $0 }
        XCTAssertEqual(written.count, 1)
        XCTAssertFalse(written[0].contains("\n"), "one line per entry, whatever the message holds")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["msg"] as? String, "payment left \"unsettled\"\nretrying")
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["label"] as? String, "orders")
        XCTAssertEqual(object["service"] as? String, "orders")
        XCTAssertEqual(object["order-id"] as? String, "o-1")
        XCTAssertEqual(object["attempt"] as? String, "2")
        XCTAssertEqual(object["ids"] as? [String], ["a", "b"])
        XCTAssertNotNil(ISOTimestamp.date(object["ts"] as? String ?? ""))
    }
}
