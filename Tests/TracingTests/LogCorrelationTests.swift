import Foundation
import Logging
import OTel
import Synchronization
import TicketingCore
import TicketingEvents
import Tracing
import XCTest

/// What the services set up (see Telemetry in the executable): swift-otel's tracer with the W3C propagator, and its log
/// metadata provider on the log handler. A JSON log line written in a span names that span, and the headers the span's
/// context is carried in are `traceparent` with the same ids.
final class LogCorrelationTests: XCTestCase {
    func testAJSONLogLineWrittenInASpanCarriesTheTraceAndSpanIDsItsTraceparentCarries() async throws {
        var configuration = OTel.Configuration.default
        configuration.traces.exporter = .none
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        let tracing = try OTel.makeTracingBackend(configuration: configuration)
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "test") { line in lines.withLock { $0.append(line) } }
        handler.metadataProvider = OTel.makeLoggingMetadataProvider()
        let logger = Logger(label: "test") { _ in handler }

        let headers = withTracer(tracing.factory) {
            withSpan("request") { span in
                logger.info("inside")
                return TraceHeaders.of(span.context)
            }
        }
        logger.info("outside")

        let traceparent = try XCTUnwrap(headers["traceparent"])
        let parts = traceparent.split(separator: "-").map(String.init)
        XCTAssertEqual(parts.count, 4, traceparent)
        let logged = try lines.withLock { $0 }.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(logged.count, 2)
        XCTAssertEqual(logged[0]["trace_id"] as? String, parts[1])
        XCTAssertEqual(logged[0]["span_id"] as? String, parts[2])
        XCTAssertEqual(logged[0]["msg"] as? String, "inside")
        XCTAssertNil(logged[1]["trace_id"], "a line outside any span names none")
    }
}
