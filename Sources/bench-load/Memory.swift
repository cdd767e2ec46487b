import Foundation

/// Resident memory of the stack's processes (BENCH_PIDS, as for CPUUsage): the total (VmRSS), how much of it is the
/// process's own heap and stacks (anonymous) against pages of the binary and libraries it has mapped (file-backed,
/// the same pages in every process of one binary), the proportional share (PSS: each shared page divided among the
/// processes mapping it, what the process costs the machine), and its thread count, which bounds its stacks and
/// allocator arenas.
enum Memory {
    static func line(_ when: String) -> String {
        let entries = CPUUsage.processes.filter { $0.0 != "bench-load" }.compactMap { name, pid -> String? in
            let status = fields("/proc/\(pid)/status"), rollup = fields("/proc/\(pid)/smaps_rollup")
            guard let rss = status["VmRSS"] else { return nil }
            return String(format: "%@ %.1f MB (anon %.1f, file %.1f, pss %.1f, %d threads)", name, megabytes(rss),
                          megabytes(status["RssAnon"]), megabytes(status["RssFile"]), megabytes(rollup["Pss"]),
                          status["Threads"] ?? 0)
        }
        return "resident \(when): " + entries.joined(separator: "; ")
    }

    /// "Name:   value kB" lines as name → value.
    private static func fields(_ path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let value = parts[1].split(whereSeparator: \.isWhitespace).first.flatMap({ Int($0) }) else { continue }
            fields[String(parts[0])] = value
        }
        return fields
    }

    private static func megabytes(_ kilobytes: Int?) -> Double { Double(kilobytes ?? 0) / 1_024 }
}
