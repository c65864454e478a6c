import Foundation
import Support
import TestSupport
import Testing

@Suite("Configuration is checked before serving")
struct ConfigTests {
    func run(_ args: [String], _ env: [String: String]) throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        environment["CRYOTENSOR_DB"] = NSTemporaryDirectory() + "ct-cfg-\(UUID().uuidString).db"
        for (k, v) in env { environment[k] = v }
        return try runCommand(responderBinary, args, environment: environment)
    }

    @Test(arguments: [
        ("ENABLE_SSRF_PROTECTION", "maybe"),
        ("REMOTE_FILE_MAX_SIZE_MB", "fifty"),
        ("OPENAI_ALLOWED_API_BASE_URLS", "https://ok.example/v1,ftp://nope"),
        ("SSRF_ALLOWED_CIDRS", "10.0.0.0/33"),
        ("REDIS_URL", "http://localhost:6379"),
        ("ENABLE_LOCAL_ENCRYPTION", "true"),
        ("REMOTE_DOWNLOAD_MAX_RETRIES", "-1"),
        ("CONFIG_ENCRYPTION_KEY", "short")
    ])
    func badValueStopsServeAndNamesTheVariable(variable: String, value: String) throws {
        let check = try run(["check-config"], [variable: value])
        #expect(check.status == 2)
        #expect(check.stderr.contains(variable))
        let sock = NSTemporaryDirectory() + "ct-cfg-\(UUID().uuidString.prefix(8)).sock"
        let serve = try run(["serve", "--listen", "unix:" + sock], [variable: value])
        #expect(serve.status == 2)
        #expect(serve.stderr.contains(variable))
        #expect(!FileManager.default.fileExists(atPath: sock))
    }

    @Test func checkConfigPrintsSettingsButNeverSecrets() throws {
        let key = "K3y-" + String(repeating: "z", count: 40)
        let r = try run(["check-config"], ["CONFIG_ENCRYPTION_KEY": key, "OPENROUTER_API_KEY": "sk-or-planted-123456789"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("CONFIG_ENCRYPTION_KEY=(set)"))
        #expect(r.stdout.contains("ENABLE_SSRF_PROTECTION=true (default)"))
        #expect(!r.stdout.contains(key) && !r.stdout.contains("sk-or-planted"))
    }

    @Test func migrateIsIdempotent() throws {
        if TestEngine.current == .postgresql {
            let url = try TestPostgres.freshDatabaseURL()
            defer { TestPostgres.dropDatabase(url) }
            let first = try run(["migrate"], ["DATABASE_URL": url])
            let second = try run(["migrate"], ["DATABASE_URL": url])
            #expect(first.status == 0 && second.status == 0, "\(first.stderr)\(second.stderr)")
            #expect(second.stdout.contains("schema version"))
            let versions = try TestPostgres.psql(url, "SELECT COUNT(*) = COUNT(DISTINCT version) AND COUNT(*) > 0 FROM schema_migrations")
            #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "t", "each version once: \(versions)")
            return
        }
        let db = NSTemporaryDirectory() + "ct-mig-\(UUID().uuidString).db"
        let first = try run(["migrate"], ["CRYOTENSOR_DB": db])
        let second = try run(["migrate"], ["CRYOTENSOR_DB": db])
        #expect(first.status == 0 && second.status == 0)
        #expect(second.stdout.contains("schema version"))
        let mode = try runCommand("/usr/bin/sqlite3", [db, "PRAGMA journal_mode"]).stdout
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }
}

@Suite("Refusals of the admin API keep their documented shape")
struct RefusalShapeTests {
    @Test func everyProblemIsListedAndAnImportStaysA422() throws {
        let stack = try Stack()
        let admin = try stack.signedIn("admin@example.com", admin: true)
        // PATCH /admin/config: 400 invalid_field naming the first, with every problem listed.
        let patch = try admin.patch("/admin/config", ["max_streams_per_user": 0, "bogus": 1])
        #expect(patch.status == 400 && patch.errorCode == "invalid_field")
        let patchPaths = Set(patch.json?["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? [])
        #expect(patchPaths == ["max_streams_per_user", "bogus"], "\(patch.text)")
        // An import with a stray top-level field and a wrong type: 422 import_invalid, all problems, nothing written.
        let imported = try admin.post("/admin/config/import", ["settings": [], "extra": 1, "connections": [["name": "x"]]])
        #expect(imported.status == 422 && imported.errorCode == "import_invalid", "\(imported.text)")
        let paths = imported.json?["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        #expect(paths.contains("extra") && paths.contains("settings") && paths.contains("connections[0].base_url"), "\(paths)")
        #expect(try admin.get("/admin/connections").json?["connections"]?.arrayValue?.isEmpty == true)
        // A connection's refusal still names its field and lists the problems.
        let created = try admin.post("/admin/connections", ["name": "x", "base_url": "https://api.example.com/v1", "enabled": "yes"])
        #expect(created.status == 400 && created.json?["error"]?["field"]?.stringValue == "enabled")
        #expect(created.json?["problems"]?.arrayValue?.isEmpty == false)
    }
}
