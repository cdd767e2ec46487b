import ArgumentParser
import Foundation
import JetStream
import Logging
import TicketingCore

/// `ticketing events`: the operators' view of the event stream.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at the event stream and the services' backlogs.", subcommands: [Tail.self, History.self, Lag.self]
    )

    /// What both readers of the stream share: where the broker is, and how a message is printed.
    struct StreamOptions: ParsableArguments {
        @ArgumentParser.Flag(help: "One JSON object per event: sequence, time, subject, id, data.")
        var json = false

        /// Reads the stream from `since` (or its beginning), printing the events `keep` selects, until the end of the
        /// stream, or for ever when `follow`.
        func read(subject: String, since: Date?, follow: Bool, keep: (Any?) -> Bool = { _ in true }) async throws {
            try await withBroker(doing: "read the stream") { connection in
                let reader = try await connection.reader(stream: JetStreamBus.streamName, subject: subject, since: since)
                while true {
                    // Without --follow, the end is the message with nothing after it, or a second of silence (none at all).
                    guard let message = try await reader.next(timeout: follow ? 5 : 1) else {
                        if follow { continue } else { break }
                    }
                    let data = message.data
                    let payload = try? JSONSerialization.jsonObject(with: data)
                    if keep(payload) { try print(message, data: data, payload: payload) }
                    if !follow, message.pendingAfter == 0 { break }
                }
                await reader.close()
            }
        }

        private func print(_ message: JetStreamMessage, data: Data, payload: Any?) throws {
            let time = message.storedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "-"
            if json {
                let line: [String: Any] = [
                    "sequence": message.streamSequence, "time": time, "subject": message.subject,
                    "id": message.messageID ?? NSNull(), "data": payload ?? String(decoding: data, as: UTF8.self),
                ]
                Swift.print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } else {
                Swift.print([time, "\(message.streamSequence)", message.subject, message.messageID ?? "-", String(decoding: data, as: UTF8.self)]
                    .joined(separator: "\t"))
            }
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The stream's events, decoded, from a while ago on (and as they come, with --follow).")

        @ArgumentParser.Option(help: "Only this subject: \(Subject.allCases.map(\.rawValue).joined(separator: ", ")).")
        var subject: String?

        @ArgumentParser.Option(help: "From this long ago: 90s, 15m, 2h, 7d.")
        var since = "1h"

        @ArgumentParser.Flag(help: "Keep printing events as they are published, until interrupted.")
        var follow = false

        @OptionGroup var options: StreamOptions

        func validate() throws {
            if let subject, Subject(rawValue: subject) == nil { throw ValidationError("no subject \(subject); the subjects are \(Subject.allCases.map(\.rawValue).joined(separator: ", "))") }
            if Self.seconds(since) == nil { throw ValidationError("--since takes a whole number and a unit, like 90s, 15m, 2h or 7d") }
        }

        /// `90s`, `15m`, `2h`, `7d`, read whole; at most 30 days (the stream keeps 7).
        static func seconds(_ text: String) -> Double? {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
            guard let unit = text.last.flatMap({ units[$0] }), text.count > 1, text.count <= 6 else { return nil }
            let digits = text.dropLast()
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let number = Double(digits) else { return nil }
            let seconds = number * unit
            return seconds <= 30 * 86_400 ? seconds : nil
        }

        func run() async throws {
            try await options.read(subject: subject ?? ">", since: Date().addingTimeInterval(-Self.seconds(since)!), follow: follow)
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every event about one ticket or order, in stream order, with times.")

        @ArgumentParser.Argument(help: "The ticket's or the order's id.")
        var id: String

        @OptionGroup var options: StreamOptions

        func validate() throws {
            guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw ValidationError("an id is 1 to 64 letters, digits and hyphens")
            }
        }

        func run() async throws {
            let id = id.lowercased()
            try await options.read(subject: ">", since: nil, follow: false) { Self.mentions($0, id) }
        }

        /// Whether the payload names the id anywhere (`id`, `orderId`, `ticket.id`, …).
        static func mentions(_ value: Any?, _ id: String) -> Bool {
            switch value {
            case let text as String: return text.lowercased() == id
            case let object as [String: Any]: return object.values.contains { mentions($0, id) }
            case let array as [Any]: return array.contains { mentions($0, id) }
            default: return false
            }
        }
    }

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
            let consumers = try await withBroker(doing: "ask for the consumers") { connection in
                try await connection.consumerStates(stream: JetStreamBus.streamName)
            }
            var outboxes: [String: OutboxBacklog] = [:]
            for definition in service.isEmpty ? Ticketing.services.filter(\.hasDatabase) : service {
                outboxes[definition.name] = try await withApplication(definition.name, quiet: true) { app in
                    try await app.outboxBacklog(definition, TicketingConfig.fromEnvironment(service: definition.name))
                }
            }
            if json { return try printJSON(Report(consumers: consumers, outboxes: outboxes)) }
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

/// Runs `body` on a connection to the broker at NATS_URL, closed afterwards; a failure says what could not be done
/// where, in one line.
func withBroker<T>(doing what: String, _ body: (JetStreamConnection) async throws -> T) async throws -> T {
    let urls = ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"
    var logger = Logger(label: "ticketing.events")
    logger.logLevel = .warning
    let connection = try await JetStreamConnection.connect(urls: urls, name: "ticketing-console", logger: logger)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw failure("could not \(what) at \(JetStreamConnection.withoutCredentials(urls)): \(error)")
    }
}
