import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Tracing through swift-otel, set up once per serving process from the standard `OTEL_*` variables.
///
/// Spans are exported over OTLP/HTTP only when a variable names where to (`OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or an explicit `OTEL_TRACES_EXPORTER`). Otherwise the sampler keeps nothing
/// (`parentbased_always_off`): trace ids are still made and passed on, in HTTP and event headers, so one request's log
/// lines carry one `trace_id` across every service, and no span is recorded or sent. `OTEL_SDK_DISABLED=true`
/// turns tracing off altogether.
enum Telemetry {
    static let exportVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"]

    /// The log metadata (`trace_id`, `span_id`, `trace_flags`) of the span current where a line is logged.
    static let logMetadata = OTel.makeLoggingMetadataProvider()

    /// Bootstraps the process's tracer; returns the service that exports its spans (run it first in the service
    /// group, so it stops last and flushes what the others ended), or nil when tracing is off.
    static func bootstrap(service: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (any Service)? {
        guard environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "ticketing-\(service)"
        configuration.diagnosticLogger = .custom(Logger(label: "otel"))
        configuration.diagnosticLogLevel = .warning
        // Metrics stay on Prometheus's /metrics and logs on standard error; OTel carries the traces.
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        if !exportVariables.contains(where: { environment[$0]?.isEmpty == false }) {
            configuration.traces.exporter = .none
            configuration.traces.sampler = .parentBasedAlwaysOff
        }
        let tracing = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracing.factory)
        return tracing.service
    }
}
