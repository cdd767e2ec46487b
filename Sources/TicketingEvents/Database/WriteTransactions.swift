import FluentKit

import SQLKit
import Synchronization

/// Runs a service's write transactions.
///
/// SQLite allows one writer at a time, and a deferred transaction that reads and then writes fails at once
/// (rather than waiting) when another connection wrote in between. So on SQLite every write transaction waits
/// its turn at an in-process gate and then starts with `BEGIN IMMEDIATE`, taking the write lock before it reads;
/// other processes on the same file wait in SQLite's busy handler. PostgreSQL runs them concurrently as usual.
public struct WriteTransactions: Sendable {
    let serialized: Bool
    private let gate = AsyncGate()

    public init(sqlite: Bool) {
        serialized = sqlite
    }

    /// Runs one write statement, which is a transaction on its own: on SQLite it still waits its turn at the gate
    /// (a write statement takes the write lock before it reads, as `BEGIN IMMEDIATE` does), but skips the two extra
    /// round trips of an explicit transaction.
    public func runStatement<T: Sendable>(on db: any Database, _ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        guard serialized else { return try await body(db) }
        return try await gate.withTurn { try await body(db) }
    }

    public func run<T: Sendable>(on db: any Database, _ body: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        guard serialized else { return try await db.transaction { tx in try await body(tx) } }
        return try await gate.withTurn {
            try await db.withConnection { connection in
                try await connection.sql.raw("BEGIN IMMEDIATE").run()
                do {
                    let result = try await body(connection)
                    try await connection.sql.raw("COMMIT").run()
                    return result
                } catch {
                    try? await connection.sql.raw("ROLLBACK").run()
                    throw error
                }
            }
        }
    }
}

/// A first-come, first-served async lock.
final class AsyncGate: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func withTurn<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { continuation in
            let enterNow = state.withLock { state -> Bool in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if enterNow { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiters.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
