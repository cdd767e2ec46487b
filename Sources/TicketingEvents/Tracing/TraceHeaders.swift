import Foundation
import Tracing

/// A trace's context as header names and values (`traceparent`, `tracestate` with the W3C propagator), which is how it
/// crosses what is not one task: the outbox row (as one JSON column) and the bus (as message headers). Which names
/// they are is the bootstrapped instrument's business; with none bootstrapped there are none and nothing is stored.
public enum TraceHeaders {
    /// The headers that carry `context` onwards; empty when nothing traces it.
    public static func of(_ context: InstrumentationContext, tracer: any Instrument = InstrumentationSystem.instrument) -> [String: String] {
        var headers: [String: String] = [:]
        tracer.inject(context, into: &headers, using: DictionaryInjector())
        return headers
    }

    /// The context that `headers` carry, on top of `base`.
    static func context(from headers: [String: String], base: InstrumentationContext = .topLevel) -> InstrumentationContext {
        var context = base
        guard !headers.isEmpty else { return context }
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryExtractor())
        return context
    }

    /// As stored in the outbox's `trace_context` column: nil when there is nothing to store.
    static func column(_ headers: [String: String]) -> String? {
        guard !headers.isEmpty, let data = try? JSONEncoder().encode(headers) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A stored column read back; a value that is not a JSON object of strings carries no trace.
    static func headers(column: String?) -> [String: String] {
        guard let column else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(column.utf8))) ?? [:]
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
