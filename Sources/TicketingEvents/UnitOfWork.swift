import FluentKit
import Synchronization

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
        let result = try await transactions.run(on: db) { tx in try await body(Transaction(db: tx, recorded: recorded)) }
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

        /// Records `events` in the outbox, to be published once this transaction commits.
        public func record<E: Event>(_ events: [E]) async throws {
            guard !events.isEmpty else { return }
            try await Outbox.insert(events, on: db)
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
