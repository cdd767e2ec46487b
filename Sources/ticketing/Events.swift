import ArgumentParser
import Foundation
import JetStream
import Logging
import TicketingCore

/// `ticketing events`: the operators' view of the event stream.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Look at the event stream and the services' backlogs.", subcommands: [Lag.self])

    struct Lag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per durable consumer: pending, waiting for ack, redelivered; per service: outbox rows and the oldest's age.",
            discussion: """
                The consumers come from the broker at NATS_URL. Each service's outbox is read from its database as the \
                service finds it; where DATABASE_URL names one database (inside a pod), name its service with --service.
                """
        )

        @ArgumentParser.Option(help: "Only these services' outboxes (repeatable).")
        var service: [ServiceDefinition] = []

        @ArgumentParser.Flag(help: "As JSON.")
        var json = false

        func validate() throws {
            if ProcessInfo.processInfo.environment["DATABASE_URL"] != nil, service.count != 1 {
                throw ValidationError("DATABASE_URL names one service's database: say which with --service")
            }
            if let without = service.first(where: { !$0.hasDatabase }) { throw ValidationError("\(without.name) has no database, so no outbox") }
        }

        struct Report: Encodable {
            var consumers: [String: ConsumerState]
            var outboxes: [String: OutboxBacklog]
        }

        func run() async throws {
            let urls = ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
            var logger = Logger(label: "ticketing.events")
            logger.logLevel = .warning
            let connection = try await JetStreamConnection.connect(urls: urls, name: "ticketing-console", logger: logger)
            let consumers: [String: ConsumerState]
            do {
                consumers = try await connection.consumerStates(stream: JetStreamBus.streamName)
                await connection.close()
            } catch {
                await connection.close()
                throw failure("the broker at \(JetStreamConnection.withoutCredentials(urls)) did not answer: \(error)")
            }
            var outboxes: [String: OutboxBacklog] = [:]
            for definition in service.isEmpty ? Ticketing.services.filter(\.hasDatabase) : service {
                let app = try await makeApplication(definition.name, quiet: true)
                do {
                    outboxes[definition.name] = try await app.outboxBacklog(definition, TicketingConfig.fromEnvironment(service: definition.name))
                    try await app.asyncShutdown()
                } catch {
                    try? await app.asyncShutdown()
                    throw error
                }
            }
            let report = Report(consumers: consumers, outboxes: outboxes)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                return print(String(decoding: try encoder.encode(report), as: UTF8.self))
            }
            print("consumer\tpending\twaiting-for-ack\tredelivered")
            for (name, state) in consumers.sorted(by: { $0.key < $1.key }) {
                print("\(name)\t\(state.pending)\t\(state.waitingForAck)\t\(state.redelivered)")
            }
            print("\nservice\toutbox\toldest-seconds")
            for (name, backlog) in outboxes.sorted(by: { $0.key < $1.key }) {
                print("\(name)\t\(backlog.pending)\t\(Int(backlog.oldestAgeSeconds.rounded()))")
            }
        }
    }
}
