import FluentKit
import Synchronization
import Tracing

/// The one way a service writes: `run` opens a write transaction, the body changes rows and records the events that
/// announce them on the transaction it is handed, and once the transaction has committed the outbox relay is woken
/// to publish them. Routes, listeners, the scheduler and the reconciler all write through it, so no writer has to
/// remember to wake anything, and a change and its events commit or vanish together.
public struct UnitOfWork: Sendable {
    let transactions: WriteTransactions
    private let committed: @Sendable () -> Void

    /// `committed` runs after a transaction that recorded events has committed (the relay's wake-up).
    init(transactions: WriteTransactions, committed: @escaping @Sendable () -> Void) {
        self.transactions = transactions
        self.committed = committed
    }

    /// Runs `body` in one write transaction; after it commits, the relay publishes what it recorded.
    public func run<T: Sendable>(on db: any Database, _ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        let recorded = Recorded()
        // Both taken here: the database may run the body where neither the task's trace nor a task-scoped tracer (a
        // test's) is in reach any more, so the trace is handed to the body, and set again for its log lines.
        let tracer = InstrumentationSystem.tracer
        let current = InstrumentationContext.current ?? .topLevel
        let run = { (trace: InstrumentationContext) in
            try await transactions.run(on: db) { tx in
                try await InstrumentationContext.withValue(trace) {
                    try await body(Transaction(db: tx, recorded: recorded, tracer: tracer, trace: trace))
                }
            }
        }
        // A span within a trace that is being recorded; a periodic job's transaction (the scheduler's ticks, the prunes)
        // starts no trace of its own, or every second would add one.
        let result = if tracer.activeSpan(identifiedBy: current) != nil {
            try await tracer.withAnySpan("transaction", context: current) { span in try await run(span.context) }
        } else {
            try await run(current)
        }
        if recorded.any { committed() }
        return result
    }

    /// Runs one write statement that records no event, which is a transaction on its own (see `WriteTransactions`).
    public func statement<T: Sendable>(on db: any Database, _ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        try await transactions.runStatement(on: db, body)
    }

    /// A write transaction in progress: its rows through `db`, its events through `record`.
    public struct Transaction: Sendable {
        public let db: any Database
        fileprivate let recorded: Recorded
        let tracer: any Tracer
        /// The trace the events recorded here continue.
        let trace: InstrumentationContext

        /// The same transaction, recording its events in `trace` (a listener's batch applies each event in its own).
        func continuing(_ trace: InstrumentationContext) -> Transaction {
            Transaction(db: db, recorded: recorded, tracer: tracer, trace: trace)
        }

        /// Records `events` in the outbox, to be published once this transaction commits. Each continues the trace
        /// of its context in `tracedBy` (the transaction's when nil): a batch that writes for several requests records
        /// each request's event in its own trace.
        public func record<E: Event>(_ events: [E], tracedBy contexts: [InstrumentationContext]? = nil) async throws {
            guard !events.isEmpty else { return }
            let spans = events.indices.map { index in
                tracer.startAnySpan("record \(E.subject.rawValue)", context: contexts?[index] ?? trace, ofKind: .producer)
            }
            defer { for span in spans { span.end() } }
            try await Outbox.insert(events, traces: spans.map { TraceHeaders.of($0.context, tracer: tracer) }, on: db)
            recorded.mark()
        }

        public func record<E: Event>(_ event: E) async throws {
            try await record([event])
        }
    }

    fileprivate final class Recorded: Sendable {
        private let flag = Atomic(false)
        var any: Bool { flag.load(ordering: .acquiring) }
        func mark() { flag.store(true, ordering: .releasing) }
    }
}
