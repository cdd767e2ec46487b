import Foundation
import Synchronization

/// A wake-up that is never lost: a signal with nobody waiting is kept for the next wait.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns on a signal, after `timeout` seconds, or on cancellation, whichever is first.
    public func wait(timeout: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Cancelled once the wait is over for another reason: then it must not leave a signal behind.
                do {
                    try await Task.sleep(for: .milliseconds(Int(timeout * 1_000)))
                    self.signal()
                } catch {}
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.signal()
            }
            group.cancelAll()
        }
    }
}
