import Foundation
import Storage
import Support
import TestSupport

@testable import Service

/// A domain stack on a temporary SQLite file (or, with CT_TEST_ENGINE=postgresql, a fresh
/// PostgreSQL database on the test process's cluster): the settings, the shared state, one
/// thread's services and a scope signed in as an admin. No nginx, no responder, no Redis.
final class DomainFixture {
    let directory: URL
    let environment: [String: String]
    let config: Config
    let shared: SharedState
    let services: Services
    let scope: Scope
    let admin: User
    /// Only the fixture that made the folder removes it.
    let ownsDirectory: Bool

    static let key = "domain-test-key-0123456789abcdefghijklmnop"
    static let otherKey = "another-domain-test-key-0123456789abcdefgh"

    /// `key`: CONFIG_ENCRYPTION_KEY (nil: secrets in memory); `encryptTranscripts`: ENABLE_LOCAL_ENCRYPTION.
    /// `extra`: more settings (retention days in the audit tests).
    init(
        key: String? = DomainFixture.key, previous: [String] = [], encryptTranscripts: Bool = false, reuse: URL? = nil,
        extra: [String: String] = [:]
    ) throws {
        ownsDirectory = reuse == nil
        directory = reuse ?? FileManager.default.temporaryDirectory.appendingPathComponent("ct-domain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var env = [
            "CRYOTENSOR_DB": directory.appendingPathComponent("cryotensor.db").path,
            "OPENAI_ALLOWED_API_BASE_URLS": "https://api.example.com/v1,https://other.example.com/v1"
        ]
        // PostgreSQL: the URL is kept in the folder, so a fixture that reuses it opens the same database.
        // CRYOTENSOR_DB stays set: nothing may use it.
        if TestEngine.current == .postgresql {
            let saved = directory.appendingPathComponent("database-url")
            let url = try (reuse == nil ? nil : try? String(contentsOf: saved, encoding: .utf8)) ?? TestPostgres.freshDatabaseURL()
            try url.write(to: saved, atomically: true, encoding: .utf8)
            env["DATABASE_URL"] = url
        }
        if let key { env["CONFIG_ENCRYPTION_KEY"] = key }
        if !previous.isEmpty { env["CONFIG_ENCRYPTION_KEY_PREVIOUS"] = previous.joined(separator: ",") }
        if encryptTranscripts { env["ENABLE_LOCAL_ENCRYPTION"] = "true" }
        env.merge(extra) { _, new in new }
        environment = env
        config = try Config.load(environment: env)
        let db = try Database(config.database)
        _ = try Migrations.apply(db)
        shared = SharedState(version: "test", config: config, environment: env, cacheMACKey: Array(repeating: 7, count: 32))
        services = try Services(config: config, shared: shared)
        scope = Scope(lease: ServicesLease(owned: services), requestID: "test")
        let users = UserRepository(services.db)
        admin =
            try users.find(email: "admin@example.com")
            ?? users.create(email: "admin@example.com", passwordHash: "x", role: .admin)
        scope.auth = Authentication(user: admin, method: .token, sessionToken: nil)
    }

    var db: Database { services.db }

    /// Every byte of the database and its WAL, to look for plaintext. PostgreSQL: a `pg_dump` of
    /// the database (every row as the server holds it; its WAL and dead tuples are the operator's,
    /// docs/deployment.md).
    func databaseBytes() throws -> String {
        if let url = environment["DATABASE_URL"] { return try TestPostgres.dump(url) }
        _ = try db.run("PRAGMA wal_checkpoint(TRUNCATE)")
        var all = Data()
        for suffix in ["", "-wal", "-shm"] {
            all += (try? Data(contentsOf: URL(fileURLWithPath: config.databasePath + suffix))) ?? Data()
        }
        return String(decoding: all, as: UTF8.self)
    }

    /// What an attacker with the database does: drop the audit table's guard against `update` or
    /// `delete`. SQLite has a trigger for each; PostgreSQL one function trigger for both.
    func dropAuditGuard(_ operation: String) throws {
        try db.execute(
            db.engine == .sqlite
                ? "DROP TRIGGER audit_events_no_\(operation)" : "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
    }

    deinit { if ownsDirectory { try? FileManager.default.removeItem(at: directory) } }
}
