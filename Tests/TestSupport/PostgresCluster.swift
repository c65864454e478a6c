import Foundation

/// A private PostgreSQL cluster for tests: Debian's initdb and pg_ctl in a temporary folder,
/// a Unix socket only (no TCP), trust auth for one role, removed by `stop()`. As root it runs as
/// the `postgres` user (initdb refuses root). Nil when PostgreSQL's server is not installed.
public final class PostgresCluster: @unchecked Sendable {
    public let directory: String
    public let role = "ct_test"
    let bin: String
    let asUser: [String]

    public static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
            .flatMap { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") ? $0 : nil }
    }

    public init() throws {
        guard let bin = Self.binDirectory() else { throw ClusterError("PostgreSQL's server (initdb) is not installed") }
        self.bin = bin
        directory = NSTemporaryDirectory() + "ct-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        asUser = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres:postgres", directory]) }
        try Self.run(asUser + [bin + "/initdb", "-D", directory + "/data", "-U", role, "--auth=trust", "-E", "UTF8", "--no-sync"])
        try Self.run(
            asUser + [
                bin + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-o",
                // Test settings: many responders' pools at once, no durability.
                "-k \(directory) -c listen_addresses='' -F -c max_connections=1000 -c synchronous_commit=off -c full_page_writes=off",
                "start"
            ])
    }

    /// A URL for `database` on this cluster's socket.
    public func url(database: String = "postgres") -> String { "postgresql://\(role)@/\(database)?host=\(directory)" }

    /// Creates an empty database `name` (letters, digits and underscores) owned by the test role.
    public func createDatabase(_ name: String) throws {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else { throw ClusterError("bad name \(name)") }
        try Self.run(["/usr/bin/psql", "-q", url(), "-c", "CREATE DATABASE \(name)"])
    }

    /// Stops the server but keeps its data (a database outage); `restartServer` brings it back.
    public func stopServer() throws { try Self.run(asUser + [bin + "/pg_ctl", "-D", directory + "/data", "-m", "fast", "-w", "stop"]) }

    public func restartServer() throws {
        try Self.run(
            asUser + [
                bin + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-o",
                "-k \(directory) -c listen_addresses='' -F", "start"
            ])
    }

    public func stop() {
        _ = try? Self.run(asUser + [bin + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a command to its end with posix_spawn and waitpid (Foundation's Process did not reap
    /// runuser here once pg_ctl had started a daemon). Output goes to a file, not a pipe: the
    /// server pg_ctl starts would hold a pipe open forever. `stdoutOnly`: standard error apart
    /// (in the error only), for commands whose output is read (psql, pg_dump).
    @discardableResult
    static func run(_ command: [String], stdoutOnly: Bool = false) throws -> String {
        let log = NSTemporaryDirectory() + "ct-pg-cmd-\(UUID().uuidString.prefix(8)).log"
        let errors = log + ".err"
        defer { for file in [log, errors] { try? FileManager.default.removeItem(atPath: file) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if stdoutOnly {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw ClusterError("cannot start \(command[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data(), as: UTF8.self)
        guard status == 0 else {
            let why = stdoutOnly ? String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errors))) ?? Data(), as: UTF8.self) : text
            throw ClusterError("\(command.joined(separator: " ")): \(why)")
        }
        return text
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
