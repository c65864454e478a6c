import Foundation
import Postgres

/// The store the test process runs on: `CT_TEST_ENGINE=postgresql` (scripts/test's second pass)
/// or SQLite (the default).
public enum TestEngine: String, Sendable, CaseIterable {
    case sqlite, postgresql

    public static let current: TestEngine = {
        let raw = ProcessInfo.processInfo.environment["CT_TEST_ENGINE"]?.lowercased() ?? ""
        switch raw {
        case "", "sqlite": return .sqlite
        case "postgresql", "postgres", "pg": return .postgresql
        default: fatalError("CT_TEST_ENGINE must be sqlite or postgresql, not \(raw)")
        }
    }()

    /// The engines a repository's unit tests run on: both when PostgreSQL's server is installed
    /// (every scripts/test run), else SQLite only.
    public static let available: [TestEngine] = PostgresCluster.binDirectory() == nil ? [.sqlite] : [.sqlite, .postgresql]
}

/// One PostgreSQL cluster per test process, started on first use and stopped at exit; each
/// caller gets its own empty database on it.
public enum TestPostgres {
    static let cluster: Result<PostgresCluster, ClusterError> = {
        do {
            let cluster = try PostgresCluster()
            atexit { TestPostgres.stopAtExit() }
            return .success(cluster)
        } catch let error as ClusterError {
            return .failure(error)
        } catch {
            return .failure(ClusterError("\(error)"))
        }
    }()

    static func stopAtExit() {
        if case .success(let cluster) = cluster { cluster.stop() }
    }

    /// The shared cluster, started on first call.
    public static func shared() throws -> PostgresCluster { try cluster.get() }

    /// A new, empty database on the shared cluster; its URL.
    public static func freshDatabaseURL(prefix: String = "ct") throws -> String {
        let cluster = try shared()
        let name = "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
        try admin(cluster) { try $0.run("CREATE DATABASE \(name) TEMPLATE template0") }
        return cluster.url(database: name)
    }

    /// Drops a database made by `freshDatabaseURL`, ending its connections first.
    public static func dropDatabase(_ url: String) {
        guard case .success(let cluster) = cluster, let name = (try? PostgresURL.parse(url).get())?.database,
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else { return }
        try? admin(cluster) { try $0.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }

    static func admin(_ cluster: PostgresCluster, _ body: (PostgresConnection) throws -> Void) throws {
        let url = try PostgresURL.parse(cluster.url()).mapError { ClusterError($0.description) }.get()
        try body(try PostgresConnection(url: url))
    }

    /// `pg_dump` of a database: every byte of its rows in one text, to look for plaintext.
    public static func dump(_ url: String) throws -> String {
        let cluster = try shared()
        return try PostgresCluster.run([cluster.bin + "/pg_dump", "--no-owner", "--dbname=" + url], stdoutOnly: true)
    }

    /// Runs `query` with psql: rows as lines, columns joined by `|` (the shape `sqlite3` prints).
    public static func psql(_ url: String, _ query: String) throws -> String {
        _ = try shared()
        return try PostgresCluster.run(
            ["/usr/bin/psql", "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", url, "-c", query], stdoutOnly: true)
    }
}
