import Foundation
@testable import TicketingCore
import XCTest

final class ConfigTests: XCTestCase {
    func testDatabaseURLChoosesTheDriver() throws {
        XCTAssertEqual(try DatabaseLocation(url: "sqlite:///var/data/auth.sqlite"), .sqliteFile("/var/data/auth.sqlite"))
        XCTAssertEqual(try DatabaseLocation(url: "sqlite://.data/auth.sqlite"), .sqliteFile(".data/auth.sqlite"))
        XCTAssertEqual(try DatabaseLocation(url: "sqlite::memory:"), .sqliteMemory)
        XCTAssertEqual(try DatabaseLocation(url: "postgres://u:p@db:5432/auth"), .postgres("postgres://u:p@db:5432/auth"))
        XCTAssertThrowsError(try DatabaseLocation(url: "mysql://u:p@db/auth"))
        XCTAssertThrowsError(try DatabaseLocation(url: "sqlite://"))
    }

    func testEnvironmentDefaultsAndOverrides() throws {
        let directory = NSTemporaryDirectory() + "config-\(UUID())"
        let defaults = try TicketingConfig.fromEnvironment(service: "auth", ["TICKETING_DATA_DIR": directory])
        XCTAssertEqual(defaults.databaseURL, "sqlite://\(directory)/auth.sqlite")
        XCTAssertEqual(defaults.natsURL, "nats://127.0.0.1:4222")
        XCTAssertEqual(defaults.expirationWindowSeconds, 900)
        XCTAssertEqual(defaults.stripeAPIBase, "http://127.0.0.1:8420")
        XCTAssertFalse(defaults.secureCookies)
        XCTAssertEqual(defaults.jwtKey.count, 64)
        XCTAssertEqual(defaults.resalePriceCapPercent, 100)

        // The generated key is kept: a second service (or a restart) reads the same one.
        let again = try TicketingConfig.fromEnvironment(service: "tickets", ["TICKETING_DATA_DIR": directory])
        XCTAssertEqual(again.jwtKey, defaults.jwtKey)

        let set = try TicketingConfig.fromEnvironment(service: "orders", [
            "JWT_KEY": "a-key-of-sufficient-length-for-hs256", "DATABASE_URL": "postgres://u:p@h/db",
            "EXPIRATION_WINDOW_SECONDS": "60", "COOKIE_SECURE": "true", "NATS_URL": "nats://a:4222,nats://b:4222",
            "RESALE_PRICE_CAP_PERCENT": "120",
        ])
        XCTAssertEqual(set.resalePriceCapPercent, 120)
        XCTAssertEqual(set.jwtKey, "a-key-of-sufficient-length-for-hs256")
        XCTAssertEqual(set.databaseURL, "postgres://u:p@h/db")
        XCTAssertEqual(set.expirationWindowSeconds, 60)
        XCTAssertTrue(set.secureCookies)
        XCTAssertEqual(set.natsURL, "nats://a:4222,nats://b:4222")
    }

    func testBadValuesAreRefusedAtStart() {
        XCTAssertThrowsError(try TicketingConfig.fromEnvironment(service: "x", ["JWT_KEY": "short"]))
        XCTAssertThrowsError(try TicketingConfig.fromEnvironment(
            service: "x", ["JWT_KEY": "a-key-of-sufficient-length-for-hs256", "EXPIRATION_WINDOW_SECONDS": "soon"]
        ))
        for cap in ["0", "-5", "ten"] {
            XCTAssertThrowsError(try TicketingConfig.fromEnvironment(
                service: "x", ["JWT_KEY": "a-key-of-sufficient-length-for-hs256", "RESALE_PRICE_CAP_PERCENT": cap]
            ))
        }
    }

    func testEmailValidation() {
        for valid in ["a@example.com", "first.last+tag@sub.example.co", "x@b.io"] {
            XCTAssertTrue(Validate.isEmail(valid), valid)
        }
        for invalid in ["", "a", "a@b", "@example.com", "a@.com", "a@example.c", "a b@example.com", "a@@example.com", "a@-x.com"] {
            XCTAssertFalse(Validate.isEmail(invalid), invalid)
        }
    }
}
