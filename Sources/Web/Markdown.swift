/// The Markdown that openapi.yaml's descriptions are written in, as HTML: paragraphs, `#` headings, `-` and `1.`
/// lists, pipe tables, fenced code, code spans (also across a line break, and with double backticks), `**strong**`
/// and `*emphasis*`. Everything else is text and is escaped, HTML included: the descriptions are full of `<…>`
/// inside code spans, and nothing from the document reaches the page as markup. (Ink, the usual Swift renderer,
/// passes HTML through and gives up on a code span that crosses a line break, which turns `</api/tickets?…>` into
/// a tag.)
enum Markdown {
    static func html(_ source: String) -> String {
        let raw = source.split(separator: "\n", omittingEmptySubsequences: false)
        let lines = raw.map(\.trimmed)
        var blocks: [String] = [], index = 0
        func take(while condition: (Substring) -> Bool) -> ArraySlice<Substring> {
            let taken = lines[index...].prefix(while: condition)
            index += taken.count
            return taken
        }
        while index < lines.count {
            let line = lines[index]
            if line.isEmpty {
                index += 1
            } else if line.hasPrefix("```") {
                let start = index + 1
                index = lines[start...].firstIndex { $0.hasPrefix("```") } ?? lines.count
                blocks.append("<pre><code>" + escape(raw[start..<index].joined(separator: "\n")) + "</code></pre>")
                index += 1
            } else if let level = headingLevel(line) {
                blocks.append("<h\(level)>" + inline(line.dropFirst(level).trimmed) + "</h\(level)>")
                index += 1
            } else if line.hasPrefix("|"), index + 1 < lines.count, isDelimiterRow(lines[index + 1]) {
                blocks.append(table(take { $0.hasPrefix("|") }))
            } else if let ordered = listMarker(line).map({ $0.ordered }) {
                // Each marker starts an item, any other line continues the item before.
                var items: [[Substring]] = []
                for line in take(while: { !$0.isEmpty && !startsBlock($0) }) {
                    if let marker = listMarker(line) { items.append([line.dropFirst(marker.length)]) } else { items[items.count - 1].append(line) }
                }
                let tag = ordered ? "ol" : "ul"
                let html = items.map { "<li>" + inline($0.joined(separator: "\n")) + "</li>" }
                blocks.append("<\(tag)>" + html.joined() + "</\(tag)>")
            } else {
                index += 1
                let rest = take { !$0.isEmpty && !startsBlock($0) && listMarker($0)?.ordered != false }
                blocks.append("<p>" + inline(([line] + rest).joined(separator: "\n")) + "</p>")
            }
        }
        return blocks.joined(separator: "\n")
    }

    static func escape(_ text: some StringProtocol) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    // MARK: - Blocks

    private static func headingLevel(_ line: Substring) -> Int? {
        let hashes = line.prefix { $0 == "#" }.count
        return (1...6).contains(hashes) && line.dropFirst(hashes).first == " " ? hashes : nil
    }

    /// `- `, `* ` or `1. ` (any number), and how many characters it takes.
    private static func listMarker(_ line: Substring) -> (ordered: Bool, length: Int)? {
        if line.hasPrefix("- ") || line.hasPrefix("* ") { return (false, 2) }
        let digits = line.prefix(while: \.isASCIIDigit).count
        return (1...9).contains(digits) && line.dropFirst(digits).hasPrefix(". ") ? (true, digits + 2) : nil
    }

    /// A line that ends the paragraph or list before it. So does a `-` item after a paragraph, but, as in CommonMark,
    /// not a wrapped line that happens to start with a number and a dot.
    private static func startsBlock(_ line: Substring) -> Bool {
        line.hasPrefix("```") || line.hasPrefix("|") || headingLevel(line) != nil
    }

    private static func isDelimiterRow(_ line: Substring) -> Bool {
        line.hasPrefix("|") && line.contains("-") && line.allSatisfy { "|-: ".contains($0) }
    }

    private static func table(_ rows: ArraySlice<Substring>) -> String {
        func row(_ line: Substring, _ tag: String) -> String {
            "<tr>" + cells(line).map { "<\(tag)>" + inline($0) + "</\(tag)>" }.joined() + "</tr>"
        }
        let head = rows.first.map { row($0, "th") } ?? ""
        let body = rows.dropFirst(2).map { row($0, "td") }.joined()
        return "<table><thead>" + head + "</thead><tbody>" + body + "</tbody></table>"
    }

    /// A row's cells, split at the `|`s outside code spans.
    private static func cells(_ line: Substring) -> [Substring] {
        var cells: [Substring] = [], start = line.startIndex, inCode = false
        for index in line.indices {
            if line[index] == "`" { inCode.toggle() }
            if line[index] == "|", !inCode {
                cells.append(line[start..<index])
                start = line.index(after: index)
            }
        }
        cells.append(line[start...])
        // The outer pipes leave an empty cell at each end.
        return Array(cells.dropFirst().dropLast(cells.last?.trimmed.isEmpty == true ? 1 : 0)).map(\.trimmed)
    }

    // MARK: - Inline

    private static func inline(_ text: some StringProtocol) -> String {
        var html = "", rest = Substring(text)
        while let character = rest.first {
            if character == "`" {
                let ticks = rest.prefix { $0 == "`" }
                rest = rest.dropFirst(ticks.count)
                guard let end = closingRun(of: ticks.count, in: rest) else {
                    html += ticks
                    continue
                }
                html += "<code>" + escape(codeText(rest[..<end.lowerBound])) + "</code>"
                rest = rest[end.upperBound...]
            } else if let (tag, marker) = [("strong", "**"), ("em", "*")].first(where: { rest.hasPrefix($0.1) }),
                      let end = closingMarker(marker, in: rest.dropFirst(marker.count)) {
                html += "<\(tag)>" + inline(rest.dropFirst(marker.count)[..<end.lowerBound]) + "</\(tag)>"
                rest = rest[end.upperBound...]
            } else if character == "\\", let next = rest.dropFirst().first, next.isASCII, next.isPunctuation || next.isSymbol {
                html += escape(String(next))
                rest = rest.dropFirst(2)
            } else {
                html += escape(String(character))
                rest = rest.dropFirst()
            }
        }
        return html
    }

    /// The next run of exactly `count` backticks.
    private static func closingRun(of count: Int, in text: Substring) -> Range<Substring.Index>? {
        var rest = text
        while let start = rest.firstIndex(of: "`") {
            let run = rest[start...].prefix { $0 == "`" }
            if run.count == count { return run.startIndex..<run.endIndex }
            rest = rest[run.endIndex...]
        }
        return nil
    }

    /// A closing `**` or `*` that hugs text on both sides, so `a * b` stays as written.
    private static func closingMarker(_ marker: String, in text: Substring) -> Range<Substring.Index>? {
        guard let first = text.first, !first.isWhitespace, let end = text.range(of: marker), end.lowerBound > text.startIndex,
              !text[text.index(before: end.lowerBound)].isWhitespace else { return nil }
        return end
    }

    /// CommonMark's code span content: line breaks are spaces, and one space inside each backtick run is padding.
    private static func codeText(_ code: Substring) -> Substring {
        let code = Substring(code.replacing("\n", with: " "))
        guard code.count >= 2, code.first == " ", code.last == " ", code.contains(where: { $0 != " " }) else { return code }
        return code.dropFirst().dropLast()
    }
}

extension Substring {
    fileprivate var trimmed: Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = self[start...].lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<end]
    }
}
