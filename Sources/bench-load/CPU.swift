import Foundation

/// CPU time the stack's processes spend per request, from /proc: on a 2-core machine every process shares the same
/// two cores, so where the time goes decides the throughput. The run script passes the stack's processes in
/// BENCH_PIDS ("name:pid,…"); a process's children (nginx's workers) count towards it, and the load generator
/// counts itself.
struct CPUUsage {
    private var seconds: [String: Double]

    static let processes: [(String, Int32)] = {
        let listed = (ProcessInfo.processInfo.environment["BENCH_PIDS"] ?? "").split(separator: ",").compactMap { entry -> (String, Int32)? in
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let pid = Int32(parts[1]) else { return nil }
            return (String(parts[0]), pid)
        }
        return listed + [("bench-load", getpid())]
    }()

    static func now() -> CPUUsage {
        let table = processTable()
        var seconds: [String: Double] = [:]
        for (name, pid) in processes {
            seconds[name] = table.filter { $0.pid == pid || $0.parent == pid }.reduce(0) { $0 + $1.seconds }
        }
        return CPUUsage(seconds: seconds)
    }

    /// Milliseconds of CPU per request since `start`, largest first.
    func line(since start: CPUUsage, requests: Int) -> String {
        guard requests > 0 else { return "" }
        let perRequest = seconds.map { name, total in (name, (total - (start.seconds[name] ?? 0)) * 1_000 / Double(requests)) }
            .sorted { $0.1 > $1.1 }
        let total = perRequest.reduce(0) { $0 + $1.1 }
        return String(format: "    cpu ms/request %.2f:", total)
            + perRequest.filter { $0.1 >= 0.01 }.map { String(format: " %@ %.2f", $0.0, $0.1) }.joined(separator: ",")
    }

    private struct Entry {
        var pid: Int32
        var parent: Int32
        var seconds: Double
    }

    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    private static func processTable() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> Entry? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after the command name (which may hold spaces): state, ppid, … utime is the 12th, stime the 13th.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let parent = Int32(fields[1]), let user = Double(fields[11]), let system = Double(fields[12])
            else { return nil }
            return Entry(pid: pid, parent: parent, seconds: (user + system) / ticksPerSecond)
        }
    }
}
