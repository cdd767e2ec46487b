import ArgumentParser
import Auth
import Expiration
import Orders
import Payments
import Tickets
import Web
import Logging
import NIOCore
import NIOPosix
import TicketingCore
import Vapor

@main
enum Entrypoint {
    static func main() async {
        // Async code then runs on the event loops themselves instead of hopping between them and Swift's own
        // threads on every await: on a 2-core machine shared by every service, those hops are much of the cost.
        // It must come before any other async work, hence here.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Ticketing.main()
    }
}

/// The one binary: every service, chosen by argument, so a deployment ships a single image.
struct Ticketing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The Ticketing marketplace services.",
        subcommands: [Serve.self, Migrate.self]
    )
}

enum ServiceName: String, ExpressibleByArgument, CaseIterable {
    case auth, tickets, orders, expiration, payments, web

    /// Each service's port when `PORT` is not set.
    var defaultPort: Int {
        switch self {
        case .auth: 4001
        case .tickets: 4002
        case .orders: 4003
        case .expiration: 4004
        case .payments: 4005
        case .web: 4000
        }
    }

    func configure(_ app: Application, _ config: TicketingConfig) async throws {
        switch self {
        case .auth: try await AuthService.configure(app, config)
        case .tickets: try await TicketsService.configure(app, config)
        case .orders: try await OrdersService.configure(app, config)
        case .expiration: try await ExpirationService.configure(app, config)
        case .payments: try await PaymentsService.configure(app, config)
        case .web: try await WebService.configure(app, config)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one service's HTTP server (migrating its database first).")

    @ArgumentParser.Argument(help: "The service: \(ServiceName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var service: ServiceName

    @ArgumentParser.Option(help: "Address to bind.")
    var hostname = ProcessInfo.processInfo.environment["HOST"] ?? "127.0.0.1"

    @ArgumentParser.Option(help: "Port to bind (default: PORT, else the service's own).")
    var port: Int?

    func run() async throws {
        let app = try await makeApplication(service)
        app.http.server.configuration.hostname = hostname
        app.http.server.configuration.port = port
            ?? ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init)
            ?? service.defaultPort
        do {
            try await service.configure(app, TicketingConfig.fromEnvironment(service: service.rawValue))
            try await app.execute()
        } catch {
            app.logger.critical("service stopped", metadata: ["error": "\(error)"])
            try? await app.asyncShutdown()
            throw error
        }
        // On SIGTERM Vapor stops the lifecycle handlers (event listeners, then the database pools) before it closes
        // the HTTP server, so a request still arriving found no database (Fluent's `Request.db` traps, and the
        // process died mid-rollout). The server stops first: no new connections, requests in flight finish; then the
        // events drain and the databases close.
        await app.server.shutdown()
        try await app.asyncShutdown()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply a service's database migrations and exit.")

    @ArgumentParser.Argument var service: ServiceName

    func run() async throws {
        let app = try await makeApplication(service)
        do {
            // Configuring a service migrates its database.
            try await service.configure(app, TicketingConfig.fromEnvironment(service: service.rawValue))
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}

/// A Vapor application whose own command line is empty: argument parsing is ours, Vapor only serves.
func makeApplication(_ service: ServiceName) async throws -> Application {
    var environment = try Environment.detect(arguments: ["ticketing"])
    try LoggingSystem.bootstrap(from: &environment) { level in
        // Plain lines for people by default; JSON lines (LOG_FORMAT=json, as the manifests set) for log collectors.
        let json = ProcessInfo.processInfo.environment["LOG_FORMAT"] == "json"
        return { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler[metadataKey: "service"] = .string(service.rawValue)
            return handler
        }
    }
    return try await Application.make(environment)
}
