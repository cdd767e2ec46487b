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
import ServiceLifecycle
import Synchronization
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
        subcommands: [Serve.self, Migrate.self, Services.self, DeadLetters.self, Events.self]
    )

    /// Every service, in the order a stack starts them.
    static let services: [ServiceDefinition] = [.auth, .tickets, .orders, .expiration, .payments, .web]
}

extension ServiceDefinition: ExpressibleByArgument {
    public init?(argument: String) {
        guard let found = Ticketing.services.first(where: { $0.name == argument }) else { return nil }
        self = found
    }

    public static var allValueStrings: [String] { Ticketing.services.map(\.name) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one service until SIGTERM or SIGINT, then stop gracefully.")

    @ArgumentParser.Argument(help: "The service: \(ServiceDefinition.allValueStrings.joined(separator: ", ")).")
    var service: ServiceDefinition

    @ArgumentParser.Option(help: "Address to bind.")
    var hostname = ProcessInfo.processInfo.environment["HOST"] ?? "127.0.0.1"

    @ArgumentParser.Option(help: "Port to bind (default: PORT, else the service's own).")
    var port: Int?

    @ArgumentParser.Flag(help: "Migrate the service's database before serving (a deployment runs `migrate` instead).")
    var migrate = false

    func validate() throws {
        if migrate, !service.hasDatabase { throw ValidationError("\(service.name) has no database to migrate") }
    }

    func run() async throws {
        let app = try await makeApplication(service.name)
        do {
            let config = try TicketingConfig.fromEnvironment(service: service.name)
            // Before wiring: the HTTP client takes the tracer it is configured with.
            let tracing = try Telemetry.bootstrap(service: service.name)
            let work = try await app.wire(service, config, migrate: migrate)
            let port = port ?? ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) ?? service.defaultPort
            try await app.asyncBoot()
            // Started in this order and stopped in reverse: the HTTP server first (no new connections, requests in
            // flight finish), then the background work, then the events drain; the databases close last.
            let group = ServiceGroup(
                services: [tracing].compactMap { $0 } + work + [HTTPServer(app: app, hostname: hostname, port: port)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger
            )
            try await group.run()
        } catch {
            app.logger.critical("service stopped", metadata: ["error": "\(error)"])
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply a service's database migrations and exit; opens nothing else.")

    @ArgumentParser.Argument var service: ServiceDefinition

    func validate() throws {
        if !service.hasDatabase { throw ValidationError("\(service.name) has no database to migrate") }
    }

    func run() async throws {
        try await withApplication(service.name) { app in
            try await app.migrate(service, TicketingConfig.fromEnvironment(service: service.name))
        }
    }
}

/// What the scripts and the manifests generator read instead of keeping their own list of services.
struct Services: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the services, their ports, routes and events.")

    @ArgumentParser.Flag(help: "As one line of JSON.")
    var json = false

    struct Description: Encodable {
        var name: String
        var port: Int
        var routes: [String]
        var database: Bool
        var publishes: [String]
        var consumes: [String]
    }

    func run() throws {
        let described = Ticketing.services.map { service in
            Description(name: service.name, port: service.defaultPort, routes: service.routes, database: service.hasDatabase,
                        publishes: service.publishes.map(\.rawValue), consumes: service.consumes.map(\.rawValue))
        }
        if json { return try printJSON(["services": described]) }
        for service in described {
            print("\(service.name)\t\(service.port)\t\(service.routes.joined(separator: " "))")
        }
    }
}

/// Vapor's HTTP server as a service of the group: it serves until graceful shutdown, then closes.
struct HTTPServer: Service {
    let app: Application
    let hostname: String
    let port: Int

    func run() async throws {
        try await app.server.start(address: .hostname(hostname, port: port))
        try? await gracefulShutdown()
        await app.server.shutdown()
    }
}

/// Runs `body` with an application for `service` (see `makeApplication`), shut down afterwards whether it succeeded
/// or threw.
func withApplication<T>(_ service: String, quiet: Bool = false, _ body: (Application) async throws -> T) async throws -> T {
    let app = try await makeApplication(service, quiet: quiet)
    do {
        let result = try await body(app)
        try await app.asyncShutdown()
        return result
    } catch {
        try? await app.asyncShutdown()
        throw error
    }
}

/// Prints `value` as one line of JSON: keys sorted, slashes plain, dates in ISO 8601.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Logging is set up once per process; the console opens one application per service it reads.
private let loggingBootstrapped = Mutex(false)

/// A Vapor application whose own command line is empty: argument parsing is ours, Vapor only serves. A `quiet` one
/// (the console's) logs only warnings and worse unless LOG_LEVEL says otherwise, so its output is its answer.
func makeApplication(_ service: String, quiet: Bool = false) async throws -> Application {
    var environment = try Environment.detect(arguments: ["ticketing"])
    guard !loggingBootstrapped.withLock({ done in defer { done = true }; return done }) else { return try await Application.make(environment) }
    try LoggingSystem.bootstrap(from: &environment) { configured in
        let level = quiet && ProcessInfo.processInfo.environment["LOG_LEVEL"] == nil ? .warning : configured
        // Plain lines for people by default; JSON lines (LOG_FORMAT=json, as the manifests set) for log collectors.
        let json = ProcessInfo.processInfo.environment["LOG_FORMAT"] == "json"
        return { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            handler.metadataProvider = Telemetry.logMetadata
            handler[metadataKey: "service"] = .string(service)
            return handler
        }
    }
    return try await Application.make(environment)
}
