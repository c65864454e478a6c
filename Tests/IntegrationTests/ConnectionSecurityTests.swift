import Foundation
import Support
import Testing

@Suite("A planted provider key leaks nowhere; memory mode; rotation; runtime config", .serialized)
struct ConnectionSecurityTests {
    @Test func plantedKeyIsOnlyEverCiphertextOrFingerprint() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyA, "OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let monitor = try Child("/usr/bin/redis-cli", ["-s", stack.redisSocket, "MONITOR"])
        usleep(200_000)
        let admin = try stack.signedIn("admin@example.com", admin: true)

        let planted = "sk-PLANTED-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let replaced = "sk-REPLACED-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let imported = "sk-IMPORTED-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        var responses: [HTTPResult] = []
        let created = try admin.post(
            "/admin/connections",
            [
                "name": "p", "kind": "openai", "base_url": .string(upstream.baseURL),
                "api_key": .string(planted)
            ])
        responses.append(created)
        let id = try #require(created.json?["id"]?.intValue)
        responses.append(try admin.get("/models"))
        responses.append(
            try admin.put(
                "/admin/connections/\(id)",
                [
                    "name": "p", "base_url": .string(upstream.baseURL),
                    "api_key": .string(replaced)
                ]))
        responses.append(
            try admin.post(
                "/admin/config/import",
                [
                    "connections": [
                        [
                            "name": "q", "kind": "openai",
                            "base_url": .string(upstream.baseURL), "api_key": .string(imported)
                        ]
                    ]
                ]))
        responses.append(try admin.get("/admin/connections"))
        responses.append(try admin.get("/admin/config/export"))
        responses.append(try admin.get("/admin/config/export?secrets=encrypted"))
        responses.append(try admin.get("/admin/config"))
        responses.append(try admin.get("/admin/status"))
        // A wrong attempt that echoes nothing back either.
        responses.append(
            try admin.put(
                "/admin/connections/\(id)",
                [
                    "name": "p", "base_url": "https://evil.example.com/v1",
                    "api_key": .string(planted)
                ]))
        _ = try stack.cli(["reencrypt"])
        usleep(200_000)
        monitor.signal(SIGTERM)
        let monitorText = String(decoding: monitor.readAll().stdout, as: UTF8.self)
        monitor.wait()
        #expect(monitorText.contains("ct:models"), "MONITOR should have seen the model cache")

        let files = stack.persistedBytes()
        #expect(files.contains { ["cryotensor.db-wal", "cryotensor.db", "pg_dump"].contains($0.0) })
        for secret in [planted, replaced, imported] {
            let core = String(secret.dropFirst(3))
            for (name, data) in files { #expect(!data.contains(core), "\(secret.prefix(12)) found in \(name)") }
            for r in responses { #expect(!r.body.contains(core), "\(secret.prefix(12)) in an API response") }
            #expect(!monitorText.contains(core), "\(secret.prefix(12)) sent to Redis")
        }
        // The provider did receive the right key, and only it.
        #expect(try upstream.requests().contains { $0["headers"]?["authorization"]?.stringValue == "Bearer " + planted })
        // The stored form is ciphertext.
        let stored = try stack.sql("SELECT api_key_ciphertext FROM connections")
        #expect(stored.split(separator: "\n").allSatisfy { $0.hasPrefix("ct1.") })
        // Redis holds no secret at all: list every key and its value.
        for key in try stack.redis(["--scan"]).split(separator: "\n") {
            let value = try stack.redis(["GET", String(key)])
            #expect(!value.contains("sk-"), "\(key) holds something key-like")
        }
    }

    @Test func withoutAKeySecretsLiveInMemoryOnlyAndVanishOnRestart() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let password = try stack.addUser("admin@example.com", admin: true)
        var admin = try stack.login("admin@example.com", password)
        let key = "sk-memory-only-" + UUID().uuidString
        let created = try admin.post(
            "/admin/connections",
            [
                "name": "m", "kind": "openai", "base_url": .string(upstream.baseURL),
                "api_key": .string(key)
            ])
        #expect(created.json?["api_key"]?["storage"]?.stringValue == "memory")
        #expect(created.json?["api_key"]?["set"] == true)
        #expect(try admin.get("/admin/status").json?["secrets_storage"]?.stringValue == "memory")
        // Every thread sees it: several calls land on different workers.
        for _ in 0..<6 { #expect(try admin.get("/models").json?["data"]?.arrayValue?.isEmpty == false) }
        for (name, data) in stack.persistedBytes() { #expect(!data.contains(key), "key found in \(name)") }
        let exported = try admin.get("/admin/config/export?secrets=encrypted")
        #expect(exported.status == 409 && exported.errorCode == "encryption_key_required")

        try stack.restartResponder()
        admin = try stack.login("admin@example.com", password)
        let after = try admin.get("/admin/connections").json?["connections"]?.arrayValue?.first
        #expect(after?["api_key"]?["set"] == false)
        #expect(after?["name"]?.stringValue == "m")
    }

    @Test func rotationWithPreviousKeyAndReencrypt() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyA, "OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let password = try stack.addUser("admin@example.com", admin: true)
        let key = "sk-rotate-0123456789-WXYZ"
        _ = try stack.login("admin@example.com", password).post(
            "/admin/connections",
            [
                "name": "r", "kind": "openai",
                "base_url": .string(upstream.baseURL), "api_key": .string(key)
            ])

        // New key only: the old ciphertext is reported as undecryptable, never used.
        try stack.restartResponder(["CONFIG_ENCRYPTION_KEY": encryptionKeyB])
        var admin = try stack.login("admin@example.com", password)
        let broken = try admin.get("/admin/connections").json?["connections"]?.arrayValue?.first?["api_key"]
        #expect(broken?["error"]?.stringValue == "undecryptable")
        #expect(try admin.get("/models").json?["errors"]?.arrayValue?.first?["code"]?.stringValue == "api_key_missing")

        // New key with the old one as previous: readable again; reencrypt moves it to the new key.
        let rotation: [String: String?] = ["CONFIG_ENCRYPTION_KEY": encryptionKeyB, "CONFIG_ENCRYPTION_KEY_PREVIOUS": encryptionKeyA]
        try stack.restartResponder(rotation)
        admin = try stack.login("admin@example.com", password)
        #expect(
            try admin.get("/admin/connections").json?["connections"]?.arrayValue?.first?["api_key"]?["fingerprint"]?.stringValue
                == "sk-…WXYZ")
        let result = try stack.cli(["reencrypt"], env: rotation)
        #expect(result.status == 0)
        #expect(result.stdout.contains("rewritten 1"))
        #expect(result.stderr.contains("connections: 1/1"))

        try stack.restartResponder(["CONFIG_ENCRYPTION_KEY": encryptionKeyB])
        admin = try stack.login("admin@example.com", password)
        #expect(
            try admin.get("/admin/connections").json?["connections"]?.arrayValue?.first?["api_key"]?["fingerprint"]?.stringValue
                == "sk-…WXYZ")
        #expect(try admin.get("/admin/status").json?["encryption"]?["key_id"]?.stringValue?.count == 8)
        let again = try stack.cli(["reencrypt"], env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyB])
        #expect(again.stdout.contains("already current 1"))
    }

    @Test func runtimeConfigChangesAreSeenByEveryWorkerAtOnce() throws {
        let stack = try Stack(threads: 4)
        let admin = try stack.signedIn("admin@example.com", admin: true)
        #expect(try admin.get("/admin/config").json?["settings"]?["enable_ssrf_protection"] == true)
        // Warm every worker's copy, then change it.
        for _ in 0..<8 { _ = try admin.get("/admin/config") }
        let changed = try admin.patch(
            "/admin/config",
            [
                "enable_ssrf_protection": false, "ssrf_allowed_cidrs": ["10.9.0.0/16"],
                "default_model": "alpha-1"
            ])
        #expect(changed.status == 200)
        for _ in 0..<8 {
            let s = try admin.get("/admin/config").json?["settings"]
            #expect(s?["enable_ssrf_protection"] == false)
            #expect(s?["ssrf_allowed_cidrs"] == ["10.9.0.0/16"])
        }
        let bad = try admin.patch("/admin/config", ["ssrf_allowed_cidrs": ["10.0.0.0/99"]])
        #expect(bad.status == 400 && bad.errorCode == "invalid_field")
        #expect(try admin.patch("/admin/config", ["openai_api_key": "x"]).errorCode == "invalid_field")
        #expect(try admin.get("/admin/config").json?["settings"]?["ssrf_allowed_cidrs"] == ["10.9.0.0/16"])
        // Redis emptied (a restart): the settings come back from SQLite.
        _ = try stack.redis(["FLUSHALL"])
        #expect(try admin.get("/admin/config").json?["settings"]?["default_model"] == "alpha-1")
    }
}
