import Foundation
import InMemoryTracing
import JetStream
import Orders
import TicketingCore
import TicketingTesting
import Tickets
import Tracing
import XCTVapor

/// One reservation is one trace: the orders service's request, its transaction and the recording of `order:created`,
/// the relay's publication, the tickets service applying it and answering with `ticket:updated`, and orders applying
/// that, each span the child of the one before, across two services and a real nats-server.
final class ReservationTraceTests: XCTestCase {
    func testAReservationIsOneTraceFromTheRequestThroughTheBusToTheTicketsServiceAndBack() async throws {
        let tracer = InMemoryTracer()
        let server = try NATSServer()
        try server.start()
        defer { server.stop() }
        // Scoped to this test's tasks: the apps' background work starts inside it and inherits it.
        try await withTracer(tracer) {
            try await Self.withService(.tickets, broker: server.url) { tickets in
                try await Self.withService(.orders, broker: server.url) { orders in
                    try await Self.reserve(tickets: tickets, orders: orders, tracer: tracer)
                }
            }
        }
    }

    private static func reserve(tickets: Application, orders: Application, tracer: InMemoryTracer) async throws {
        let seller = try await TestClient.signedIn(tickets)
        let listed = try await seller.send(.POST, "/api/tickets", json: #"{"title":"Traced","price":20}"#)
        XCTAssertEqual(listed.status, .created)
        let ticketId = try XCTUnwrap(listed.object["id"] as? String)
        let buyer = try await TestClient.signedIn(orders)
        var reserved: XCTHTTPResponse?
        try await eventually(timeout: 10) {
            reserved = try await buyer.send(.POST, "/api/orders", json: #"{"ticketId":"\#(ticketId)"}"#)
            return reserved?.status != .notFound
        }
        XCTAssertEqual(reserved?.status, .created)

        let request = try XCTUnwrap(tracer.finishedSpans.last { $0.operationName == "POST /api/orders" })
        XCTAssertEqual(request.kind, .server)
        let trace = request.traceID
        func spans() -> [FinishedInMemorySpan] { tracer.finishedSpans.filter { $0.traceID == trace } }
        try await eventually(timeout: 10) { spans().contains { $0.operationName == "process ticket:updated" } }

        let byID = Dictionary(spans().map { ($0.spanID, $0) }, uniquingKeysWith: { first, _ in first })
        func parent(of name: String) throws -> FinishedInMemorySpan {
            let span = try XCTUnwrap(spans().first { $0.operationName == name }, "no span \(name) in the trace")
            return try XCTUnwrap(span.parentSpanID.flatMap { byID[$0] }, "\(name) has no parent in the trace")
        }
        // orders: request → (transaction) → record → publish; the bus; tickets: process → transaction → record →
        // publish; the bus; orders: process.
        XCTAssertEqual(try parent(of: "record order:created").operationName, "POST /api/orders")
        XCTAssertEqual(try parent(of: "publish order:created").operationName, "record order:created")
        XCTAssertEqual(try parent(of: "process order:created").operationName, "publish order:created")
        XCTAssertEqual(try parent(of: "record ticket:updated").operationName, "transaction")
        XCTAssertEqual(try parent(of: "transaction").operationName, "POST /api/orders", "the request's own transaction")
        XCTAssertEqual(try parent(of: "publish ticket:updated").operationName, "record ticket:updated")
        XCTAssertEqual(try parent(of: "process ticket:updated").operationName, "publish ticket:updated")
        let kinds = Dictionary(spans().map { ($0.operationName, $0.kind) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(kinds["publish order:created"], .producer)
        XCTAssertEqual(kinds["process order:created"], .consumer)
        // The trace crossed the bus in the messages' headers, not in this process's memory alone.
        XCTAssertTrue(tracer.performedContextExtractions.contains { $0.context.inMemorySpanContext?.traceID == trace })
    }

    /// A service on its own in-memory SQLite (the two services' tables share names) and the broker at `broker`.
    private static func withService(
        _ service: ServiceDefinition, broker: String, _ body: @Sendable (Application) async throws -> Void
    ) async throws {
        var config = TestSupport.config(service: service.name)
        config.natsURL = broker
        config.databaseURL = "sqlite::memory:"
        try await TestSupport.withApp(service: service.name, config: config, configure: { app, config in
            try await app.wireForTesting(service, config, bus: nil)
        }) { app in
            try await app.asyncBoot()
            try await body(app)
        }
    }
}
