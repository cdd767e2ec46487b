import Foundation
import TicketingCore
import Yams

/// The HTTP API's reference at /docs, built once at start from openapi.yaml, the description the contract tests hold
/// the services to, so the page cannot drift from it. A file that is missing or broken stops the service from
/// starting: better than a reference that silently shows nothing.
struct APIReference: Sendable {
    /// The file byte for byte, for client generators.
    let document: Data
    let page: Page

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String) throws {
        guard let document = FileManager.default.contents(atPath: path), let text = String(data: document, encoding: .utf8) else {
            throw Failure(description: "cannot read the API description \(path) (OPENAPI_PATH says where it is)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw Failure(description: "the API description \(path) is not valid YAML: \(error)")
        }
        guard let root, root["openapi"]?.string?.hasPrefix("3.") == true, root["paths"]?.mapping != nil else {
            throw Failure(description: "the API description \(path) is not an OpenAPI 3 document")
        }
        do {
            page = try Reader(root: root).page()
        } catch {
            throw Failure(description: "the API description \(path) cannot be shown: \(error)")
        }
        self.document = document
    }

    // MARK: - What the page shows

    // Fields named …HTML are made here (text escaped, markup ours); every other field is text, which Leaf escapes.

    struct Page: Encodable, Sendable {
        var title: String
        var version: String
        var summary: String
        var descriptionHTML: String
        var tags: [Tag]
        var securitySchemes: [SecurityScheme]
        var schemas: [Schema]
    }

    struct Tag: Encodable, Sendable {
        var name: String
        var descriptionHTML: String
        var operations: [Operation]
    }

    struct Operation: Encodable, Sendable {
        var anchor: String
        var id: String
        var method: String
        var path: String
        var summary: String
        var descriptionHTML: String
        /// `required`, `optional` or `none`.
        var signIn: String
        var parameters: [Field]
        var body: Body?
        var responses: [Outcome]
    }

    struct Body: Encodable, Sendable {
        var mediaType: String
        var required: Bool
        var typeHTML: String
    }

    /// One of an operation's responses.
    struct Outcome: Encodable, Sendable {
        var status: String
        var descriptionHTML: String
        var mediaType: String?
        var typeHTML: String
        var headers: [Field]
        var links: [Link]
    }

    /// An operation a response leads to (OpenAPI's links).
    struct Link: Encodable, Sendable {
        var operationId: String
        var descriptionHTML: String
    }

    /// A parameter, a header or a property of a schema.
    struct Field: Encodable, Sendable {
        var name: String
        var location: String
        var required: Bool
        var typeHTML: String
        var descriptionHTML: String
    }

    struct Schema: Encodable, Sendable {
        var name: String
        var typeHTML: String
        var descriptionHTML: String
        var properties: [Field]
    }

    struct SecurityScheme: Encodable, Sendable {
        var name: String
        var kind: String
        var descriptionHTML: String
    }
}

extension APIReference: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.get("docs") { request in
            try await request.view.render("docs", Pages.context(request, "API reference", page))
        }
        routes.get("docs", "openapi.yaml") { _ in
            Response(status: .ok, headers: ["Content-Type": "application/yaml"], body: .init(data: document))
        }
    }
}

/// Reads the parts of the document the page shows, following its `$ref`s.
private struct Reader {
    typealias Failure = APIReference.Failure

    let root: Node

    static let methods: Set = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
    static let constraints = [
        "format", "minLength", "maxLength", "pattern", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum",
        "multipleOf", "minItems", "maxItems", "minProperties", "maxProperties", "additionalProperties", "enum", "const",
        "default",
    ]

    func page() throws -> APIReference.Page {
        let declaredTags = root["tags"]?.array() ?? []
        var tagOrder = declaredTags.compactMap { $0["name"]?.string }
        var operations: [String: [APIReference.Operation]] = [:]
        for (path, item) in root["paths"]?.mapping ?? [:] {
            let item = try resolve(item)
            for (method, operation) in item.mapping ?? [:] {
                guard let method = method.string, Self.methods.contains(method) else { continue }
                // Under its first tag only, so that each operation has one anchor.
                let tag = operation["tags"]?.array().first?.string ?? "other"
                if !tagOrder.contains(tag) { tagOrder.append(tag) }
                operations[tag, default: []].append(try self.operation(method, path.string ?? "", operation, pathParameters: item["parameters"]))
            }
        }
        let components = root["components"]
        return APIReference.Page(
            title: root["info"]?["title"]?.string ?? "API",
            version: root["info"]?["version"]?.string ?? "",
            summary: root["info"]?["summary"]?.string ?? "",
            descriptionHTML: markdown(root["info"]?["description"]),
            tags: tagOrder.compactMap { name in
                operations[name].map { operations in
                    let declared = declaredTags.first { $0["name"]?.string == name }
                    return .init(name: name, descriptionHTML: markdown(declared?["description"]), operations: operations)
                }
            },
            securitySchemes: (components?["securitySchemes"]?.mapping ?? [:]).map { name, scheme in
                .init(name: name.string ?? "", kind: ["type", "in", "name", "scheme"].compactMap { scheme[$0]?.string }.joined(separator: " "),
                      descriptionHTML: markdown(scheme["description"]))
            },
            schemas: try (components?["schemas"]?.mapping ?? [:]).map { name, schema in
                .init(name: name.string ?? "", typeHTML: try typeHTML(schema), descriptionHTML: markdown(schema["description"]),
                      properties: try properties(of: schema))
            }
        )
    }

    private func operation(_ method: String, _ path: String, _ node: Node, pathParameters: Node?) throws -> APIReference.Operation {
        // The path's parameters apply unless the operation defines one of the same name and place itself.
        let own = try (node["parameters"]?.array() ?? []).map(resolve)
        let inherited = try (pathParameters?.array() ?? []).map(resolve).filter { parameter in
            !own.contains { $0["name"] == parameter["name"] && $0["in"] == parameter["in"] }
        }
        // No requirement: open to all; an empty one (`{}`) among them: a session is optional.
        let security = (node["security"] ?? root["security"])?.array() ?? []
        let id = node["operationId"]?.string ?? ""
        return .init(
            anchor: "op-" + (id.isEmpty ? String((method + path).map { $0.isLetter || $0.isNumber ? $0 : "-" }) : id),
            id: id, method: method, path: path,
            summary: node["summary"]?.string ?? "",
            descriptionHTML: markdown(node["description"]),
            signIn: security.isEmpty ? "none" : security.contains { $0.mapping?.isEmpty == true } ? "optional" : "required",
            parameters: try (inherited + own).map { parameter in
                .init(name: parameter["name"]?.string ?? "", location: parameter["in"]?.string ?? "",
                      required: parameter["required"]?.bool ?? false, typeHTML: try typeHTML(parameter["schema"]),
                      descriptionHTML: markdown(parameter["description"]))
            },
            body: try node["requestBody"].map(resolve).map { body in
                let content = body["content"]?.mapping?.first
                return .init(mediaType: content?.key.string ?? "", required: body["required"]?.bool ?? false,
                             typeHTML: try typeHTML(content?.value["schema"]))
            },
            responses: try (node["responses"]?.mapping ?? [:]).map { status, response in
                let response = try resolve(response)
                let content = response["content"]?.mapping?.first
                return .init(
                    status: status.string ?? "", descriptionHTML: markdown(response["description"]),
                    mediaType: content?.key.string, typeHTML: try typeHTML(content?.value["schema"]),
                    headers: try (response["headers"]?.mapping ?? [:]).map { name, header in
                        let header = try resolve(header)
                        return .init(name: name.string ?? "", location: "header", required: header["required"]?.bool ?? false,
                                     typeHTML: try typeHTML(header["schema"]), descriptionHTML: markdown(header["description"]))
                    },
                    links: try (response["links"]?.mapping ?? [:]).compactMap { _, link in
                        let link = try resolve(link)
                        return link["operationId"]?.string.map { .init(operationId: $0, descriptionHTML: markdown(link["description"])) }
                    }
                )
            }
        )
    }

    /// A schema's properties, and those of objects defined in place under dotted names (`ticket.id`, `items[].id`).
    private func properties(of schema: Node, prefix: String = "") throws -> [APIReference.Field] {
        let required = schema["required"]?.array(of: String.self) ?? []
        return try (schema["properties"]?.mapping ?? [:]).flatMap { key, property in
            let name = prefix + (key.string ?? "")
            let field = APIReference.Field(
                name: name, location: "", required: required.contains(key.string ?? ""), typeHTML: try typeHTML(property),
                descriptionHTML: markdown(property["description"])
            )
            let nested = try property["items"].map { try properties(of: $0, prefix: name + "[].") } ?? properties(of: property, prefix: name + ".")
            return [field] + nested
        }
    }

    /// A schema in a line: its type, a link for a schema of the document's own, alternatives joined by "or", and
    /// its constraints as written.
    private func typeHTML(_ schema: Node?) throws -> String {
        guard let schema else { return "" }
        let type: String
        if let ref = schema["$ref"]?.string {
            let name = try schemaName(ref)
            type = "<a href=\"#schema-\(Markdown.escape(name))\">\(Markdown.escape(name))</a>"
        } else if let alternatives = (schema["oneOf"] ?? schema["anyOf"])?.array() {
            type = try alternatives.map(typeHTML).joined(separator: " or ")
        } else if let items = schema["items"] {
            type = "array of " + (try typeHTML(items))
        } else {
            let names = schema["type"].map { $0.sequence == nil ? [$0.string ?? ""] : $0.array(of: String.self) }
            type = Markdown.escape(names?.joined(separator: " or ") ?? (schema["properties"] == nil ? "any" : "object"))
        }
        let constraints = Self.constraints.compactMap { keyword in
            schema[keyword].flatMap(text).map { "<code class=\"constraint\">\(keyword): \(Markdown.escape($0))</code>" }
        }
        return ([type] + constraints).joined(separator: " ")
    }

    /// A constraint's value: a scalar, or a list of them; nil for a schema (an `additionalProperties` of one).
    private func text(_ value: Node) -> String? {
        value.sequence == nil ? value.scalar?.string : value.array().compactMap(\.string).joined(separator: ", ")
    }

    /// The name of a schema of components/schemas, whose section the page links to.
    private func schemaName(_ ref: String) throws -> String {
        let prefix = "#/components/schemas/"
        let name = String(ref.dropFirst(prefix.count))
        guard ref.hasPrefix(prefix), root["components"]?["schemas"]?[name] != nil else {
            throw Failure(description: "$ref \(ref) is not a schema of components/schemas")
        }
        return name
    }

    /// The node a `$ref` within the document points to (following references to references); any other node itself.
    private func resolve(_ node: Node) throws -> Node {
        var node = node, followed: Set<String> = []
        while let ref = node["$ref"]?.string {
            guard ref.hasPrefix("#/"), followed.insert(ref).inserted else {
                throw Failure(description: "$ref \(ref) points outside the document, or back to itself")
            }
            node = root
            for token in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                guard let next = node[String(token.replacing("~1", with: "/").replacing("~0", with: "~"))] else {
                    throw Failure(description: "$ref \(ref) points to nothing")
                }
                node = next
            }
        }
        return node
    }

    private func markdown(_ node: Node?) -> String {
        node?.string.map(Markdown.html) ?? ""
    }
}
