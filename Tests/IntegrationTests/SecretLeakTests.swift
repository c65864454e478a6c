import Foundation
import Support
import Testing

@Suite("Planted secrets never reach disk, logs or Redis")
struct SecretLeakTests {
    @Test func passwordAndTokensAreOnlyStoredHashed() throws {
        let stack = try Stack()
        // Redis MONITOR sees every command the responder sends during the whole test.
        let monitor = try Child("/usr/bin/redis-cli", ["-s", stack.redisSocket, "MONITOR"])
        usleep(200_000)

        let password = "Planted-Pa55word-\(UUID().uuidString)"
        try stack.addUser("planted@example.com", admin: true, password: password)
        let client = try stack.login("planted@example.com", password)
        let created = try client.post("/tokens", ["name": "planted"])
        let token = try #require(created.json?["token"]?.stringValue)
        let cliToken = try stack.cli(["token", "create", "--user", "planted@example.com"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let session = try #require(client.sessionCookie)
        let csrf = try #require(client.csrf)

        // Use every credential, including in failing ways, so they pass through logging paths.
        let api = Client(base: stack.base)
        api.bearer = token
        _ = try api.get("/admin/status")
        api.bearer = cliToken
        _ = try api.get("/auth/me")
        _ = try Client(base: stack.base).post("/auth/login", ["email": "planted@example.com", "password": .string(password + "x")])
        _ = try Client(base: stack.base).get("/auth/me", headers: ["Authorization": "Bearer " + token + "zz"])
        _ = try client.get("/auth/me?token=\(token)")

        usleep(200_000)
        monitor.signal(SIGTERM)
        let monitorText = String(decoding: monitor.readAll().stdout, as: UTF8.self)
        monitor.wait()
        #expect(monitorText.hasPrefix("OK"), "MONITOR was running")
        #expect(!monitorText.contains("ct:rl:"), "login limits are counted in SQLite, never in Redis")

        let secrets = ["password": password, "api token": token, "cli token": cliToken, "session": session, "csrf": csrf]
        let files = stack.persistedBytes()
        #expect(files.contains { $0.0 == "cryotensor.db" || $0.0 == "pg_dump" })
        #expect(files.contains { $0.0.hasSuffix("cryotensor.log") })
        for (what, secret) in secrets {
            for (name, data) in files {
                #expect(!data.contains(secret), "\(what) found in \(name)")
            }
            #expect(!monitorText.contains(secret), "\(what) sent to Redis")
        }
        // The database file is private to its owner (SQLite; PostgreSQL's files are the server's).
        if stack.engine == .sqlite {
            let mode = try FileManager.default.attributesOfItem(atPath: stack.dbPath)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }
}
