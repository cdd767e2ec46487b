
import AsyncKit
import FluentPostgresDriver
import FluentSQLiteDriver
import NIOCore
import NIOPosix

/// Decides whether an error means "the database cannot be reached" (503, retry later)
/// rather than "this request is wrong" or "this code is wrong" (500).
public enum DatabaseAvailability {
    public static func isUnavailable(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            return [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown]
                .contains(error.code)
        case let error as SQLiteError:
            return [.busy, .locked, .cantOpen, .ioError, .full, .readOnly].contains(error.reason)
        case is ConnectionPoolTimeoutError, is ConnectionPoolError, is NIOConnectionError, is IOError:
            return true
        case let error as ChannelError:
            switch error {
            case .connectTimeout, .ioOnClosedChannel, .alreadyClosed, .eof: return true
            default: return false
            }
        default:
            return false
        }
    }
}
