import CoreMetrics
import Synchronization
import Prometheus
import SQLKit
import Vapor

/// A dependency the service cannot serve without; `/readyz` is 200 only when every check passes. One it can do
/// without for a while (the broker: the outbox holds the events) belongs in `/healthz`'s details instead.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var probe: @Sendable (Application) async throws -> Void

    public init(name: String, probe: @escaping @Sendable (Application) async throws -> Void) {
        self.name = name
        self.probe = probe
    }

    public static let database = ReadinessCheck(name: "database") { app in
        try await app.sql.raw("SELECT 1").run()
    }
}

private struct HealthReport: Content {
    var status: String
    var checks: [String: String]
}

extension Application {
    private struct ReadinessChecksKey: StorageKey {
        typealias Value = [ReadinessCheck]
    }

    public var readinessChecks: [ReadinessCheck] {
        get { storage[ReadinessChecksKey.self] ?? [] }
        set { storage[ReadinessChecksKey.self] = newValue }
    }
}

/// `/healthz`, `/readyz` and `/metrics` on the service's own port (the ingress does not route them).
public struct HealthController: RouteCollection, Sendable {
    public init() {}

    public func boot(routes: any RoutesBuilder) throws {
        let routes = routes.grouped(NotThroughTheIngress())
        routes.get("healthz", use: live)
        routes.get("readyz", use: ready)
        routes.get("metrics") { request in
            await request.application.sampleMetrics()
            var headers = HTTPHeaders()
            headers.contentType = HTTPMediaType(type: "text", subType: "plain", parameters: ["version": "0.0.4"])
            return Response(status: .ok, headers: headers, body: .init(string: TicketingMetrics.registry.emitToString()))
        }
    }

    /// 200 while the process can answer at all, for the liveness probe, which restarts the pod when it fails: the
    /// details are what the process knows without asking anyone, so a slow dependency never gets a pod restarted.
    @Sendable
    func live(_ request: Request) async throws -> Response {
        var checks: [String: String] = [:]
        if let events = request.application.events { checks["broker"] = events.brokerState }
        return try await HealthReport(status: "ok", checks: checks).encodeResponse(for: request)
    }

    @Sendable
    func ready(_ request: Request) async throws -> Response {
        var checks: [String: String] = [:]
        var ready = true
        for check in request.application.readinessChecks {
            do {
                try await check.probe(request.application)
                checks[check.name] = "ok"
            } catch {
                ready = false
                checks[check.name] = "unavailable"
                request.logger.warning("readiness check failed", metadata: ["check": "\(check.name)", "error": "\(String(reflecting: error))"])
            }
        }
        let report = HealthReport(status: ready ? "ready" : "unavailable", checks: checks)
        return try await report.encodeResponse(status: ready ? .ok : .serviceUnavailable, for: request)
    }
}

/// These routes are for probes and scrapes on the service's own port (CONTRACT.md section 1). A request that came
/// through a proxy (nginx and ingress-nginx add `X-Forwarded-For`; kubelet and Prometheus do not) is answered as if
/// they did not exist, whatever the proxy's routing table says.
struct NotThroughTheIngress: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.headers.contains(name: "X-Forwarded-For") { throw Abort(.notFound) }
        return try await next.respond(to: request)
    }
}

/// One Prometheus registry per process. swift-metrics is bootstrapped onto it once, so Vapor's own request
/// metrics (`http_requests_total`, `http_request_duration_seconds`) and ours are served together.
public enum TicketingMetrics {
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    public static func bootstrap() {
        _ = bootstrapped
    }
}

/// One sampling at a time, and a scrape waits for it at most `deadline`. With the database or the broker slow,
/// scrapes would otherwise pile up, each holding a connection or one of the broker client's threads, and time out
/// at Prometheus (which then reports the service down). A scrape past the deadline serves the last values.
final class MetricsSampling: Sendable {
    static let deadline: Duration = .seconds(2)
    private let running = Mutex<Task<Void, Never>?>(nil)

    func sample(_ body: @escaping @Sendable () async -> Void) async {
        let task = running.withLock { running -> Task<Void, Never> in
            if let running { return running }
            let task = Task {
                await body()
                self.running.withLock { $0 = nil }
            }
            running = task
            return task
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumed = Mutex(false)
            let resume: @Sendable () -> Void = {
                if resumed.withLock({ done in defer { done = true }; return !done }) { continuation.resume() }
            }
            Task { await task.value; resume() }
            Task { try? await Task.sleep(for: Self.deadline); resume() }
        }
    }
}
