import Prometheus
import Synchronization
import TicketingCore
import TicketingTesting
import XCTVapor

final class HealthTests: XCTestCase {
    func testHealthReadinessAndMetricsAnswerOnTheServicePort() async throws {
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
        }) { app in
            let health = try await app.testable().sendRequest(.GET, "/healthz")
            XCTAssertEqual(health.status, .ok)
            XCTAssertEqual(try health.content.decode(HealthReport.self), HealthReport(status: "ok", checks: ["broker": "connected"]),
                           "a service with a database has events, and reports its broker")

            let ready = try await app.testable().sendRequest(.GET, "/readyz")
            XCTAssertEqual(ready.status, .ok)
            XCTAssertEqual(try ready.content.decode(HealthReport.self), HealthReport(status: "ready", checks: ["database": "ok"]))

            let counter = TicketingMetrics.registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: "health_test", unitName: "total", helpText: "counted by a test")
            )
            counter.increment(by: Int64(3))
            let metrics = try await app.testable().sendRequest(.GET, "/metrics")
            XCTAssertEqual(metrics.status, .ok)
            XCTAssertEqual(metrics.headers.contentType?.type, "text")
            XCTAssertTrue(metrics.body.string.contains("health_test_total 3"), metrics.body.string)
            // Vapor's own request metrics reach the same registry once swift-metrics is bootstrapped onto it.
            XCTAssertTrue(metrics.body.string.contains("http_requests_total"), metrics.body.string)
        }
    }

    /// A sampler stuck on its database must not hold the scrape past the deadline, nor start again on every scrape
    /// (each one would hold a connection): the scrape answers with the last values, and one sampling runs at a time.
    func testAStuckSamplerNeitherHoldsTheScrapeNorPilesUp() async throws {
        let started = Mutex(0)
        let stuck = ServiceDefinition(name: "core", defaultPort: 0, routes: [], migrations: []) { _ in
            ServiceParts(metrics: [MetricSampler("stuck") { _ in
                started.withLock { $0 += 1 }
                try await Task.sleep(for: .seconds(5))
            }])
        }
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(stuck, config, bus: InMemoryBus())
        }) { app in
            let clock = ContinuousClock()
            for _ in 0..<2 {
                let took = try await clock.measure {
                    let metrics = try await app.testable().sendRequest(.GET, "/metrics")
                    XCTAssertEqual(metrics.status, .ok)
                }
                XCTAssertLessThan(took, .seconds(4), "the scrape waits at most the deadline")
            }
            XCTAssertEqual(started.withLock { $0 }, 1, "the second scrape joined the sampling in flight")
        }
    }

    func testReadinessFailsWhenAnyCheckFails() async throws {
        struct Down: Error {}
        try await TestSupport.withApp(service: "core", configure: { app, config in
            try await app.wireForTesting(.plain(), config, bus: InMemoryBus())
            app.readinessChecks.append(ReadinessCheck(name: "dependency") { _ in throw Down() })
        }) { app in
            let ready = try await app.testable().sendRequest(.GET, "/readyz")
            XCTAssertEqual(ready.status, .serviceUnavailable)
            XCTAssertEqual(try ready.content.decode(HealthReport.self).checks, ["database": "ok", "dependency": "unavailable"])
        }
    }
}
