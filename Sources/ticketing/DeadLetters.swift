import ArgumentParser
import Foundation
import TicketingCore

/// `ticketing dead-letters`: the operators' console for parked events, against the service's database as the service
/// itself finds it (DATABASE_URL, else the SQLite file in TICKETING_DATA_DIR), locally or inside a pod.
struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List, show, replay or discard a service's parked events.",
        discussion: """
            A replay applies the event through the listener that parked it, at most once (the inbox guard), and \
            removes it; what it records is published by the running service. Replaying all goes entity by entity, \
            in version order.
            """,
        subcommands: [List.self, Show.self, Replay.self, Discard.self]
    )

    struct Options: ParsableArguments {
        @ArgumentParser.Option(help: "The service whose database holds them: \(Ticketing.services.filter(\.hasDatabase).map(\.name).joined(separator: ", ")).")
        var service: ServiceDefinition

        @ArgumentParser.Flag(help: "As JSON.")
        var json = false

        func validate() throws {
            if !service.hasDatabase { throw ValidationError("\(service.name) has no database, so no dead letters") }
        }

        /// Runs `body` with the service's desk, then closes the database.
        func withDesk<T>(_ body: (DeadLetterDesk) async throws -> T) async throws -> T {
            try await withApplication(service.name, quiet: true) { app in
                try await body(app.deadLetterDesk(service, TicketingConfig.fromEnvironment(service: service.name)))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The parked events, oldest first: id, subject, entity, tries, error.")
        @OptionGroup var options: Options

        func run() async throws {
            let letters = try await options.withDesk { try await $0.list() }
            if options.json { return try printJSON(letters) }
            for letter in letters {
                print([letter.event_id, letter.subject, letter.entity ?? "-", "\(letter.deliveries)", letter.error].joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One parked event with its payload.")
        @OptionGroup var options: Options
        @ArgumentParser.Argument(help: "The event's id.") var id: String

        func run() async throws {
            guard let letter = try await options.withDesk({ try await $0.show(id) }) else { throw failure("no parked event \(id)") }
            if options.json { return try printJSON(letter) }
            print("event \(letter.event_id)\nsubject \(letter.subject)\nentity \(letter.entity ?? "-")\ntries \(letter.deliveries)")
            print("parked \(ISO8601DateFormatter().string(from: letter.created_at))\nerror \(letter.error)\npayload \(letter.payload)")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a parked event (or --all) through its listener, once.")
        @OptionGroup var options: Options
        @ArgumentParser.Argument(help: "The event's id.") var id: String?
        @ArgumentParser.Flag(help: "Every parked event, entity by entity in version order.") var all = false

        func validate() throws {
            if (id == nil) == !all { throw ValidationError("name one event's id, or --all") }
        }

        func run() async throws {
            let done = try await options.withDesk { desk in
                if let id { return [try await desk.replay(id)] }
                return try await desk.replayAll()
            }
            if options.json { try printJSON(done) } else {
                for replayed in done { print([replayed.eventId, replayed.outcome.rawValue, replayed.error ?? ""].joined(separator: "\t")) }
            }
            if let id, done.first?.outcome == .notFound { throw failure("no parked event \(id)") }
            if done.contains(where: { $0.outcome == .failed || $0.outcome == .early }) { throw ExitCode(1) }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a parked event without applying it (needs --yes).")
        @OptionGroup var options: Options
        @ArgumentParser.Argument(help: "The event's id.") var id: String
        @ArgumentParser.Flag(help: "Yes, never apply it.") var yes = false

        func validate() throws {
            if !yes { throw ValidationError("discarding never applies the event: say --yes") }
        }

        func run() async throws {
            guard try await options.withDesk({ try await $0.discard(id) }) else { throw failure("no parked event \(id)") }
            print("discarded \(id)")
        }
    }
}

/// A console command that could not do what it was asked: ArgumentParser prints `Error: <reason>` on one line and
/// exits 1 (bad arguments, which it checks itself, exit 64 with the usage).
struct ConsoleFailure: Error, CustomStringConvertible {
    var description: String
}

func failure(_ reason: String) -> ConsoleFailure {
    ConsoleFailure(description: reason)
}
