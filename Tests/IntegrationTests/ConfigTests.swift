import Foundation
import Support
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
        ("CONFIG_ENCRYPTION_KEY", "short"),
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
        let db = NSTemporaryDirectory() + "ct-mig-\(UUID().uuidString).db"
        let first = try run(["migrate"], ["CRYOTENSOR_DB": db])
        let second = try run(["migrate"], ["CRYOTENSOR_DB": db])
        #expect(first.status == 0 && second.status == 0)
        #expect(second.stdout.contains("schema version"))
        let mode = try runCommand("/usr/bin/sqlite3", [db, "PRAGMA journal_mode"]).stdout
        #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }
}
