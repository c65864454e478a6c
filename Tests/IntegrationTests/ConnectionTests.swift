import Foundation
import Support
import Testing

let encryptionKeyA = "key-A-" + String(repeating: "a1B2", count: 10)
let encryptionKeyB = "key-B-" + String(repeating: "z9Y8", count: 10)

@Suite("Provider connections: sealed keys, masks, allowlist, export and import", .serialized)
struct ConnectionTests {
    let hostA: MockUpstream
    let hostB: MockUpstream
    let stack: Stack
    let admin: Client

    init() throws {
        hostA = try MockUpstream(["--models", "alpha-1,alpha-2"])
        hostB = try MockUpstream(["--models", "beta-1"])
        stack = try Stack(env: [
            "CONFIG_ENCRYPTION_KEY": encryptionKeyA,
            "OPENAI_ALLOWED_API_BASE_URLS": "\(hostA.baseURL),\(hostB.baseURL)"
        ])
        let password = try stack.addUser("admin@example.com", admin: true)
        admin = try stack.login("admin@example.com", password)
    }

    func create(_ name: String, _ base: String, key: String?) throws -> HTTPResult {
        var body: [String: JSON] = ["name": .string(name), "kind": "openai", "base_url": .string(base)]
        if let key { body["api_key"] = .string(key) }
        return try admin.post("/admin/connections", .object(body))
    }

    @Test func keysAreShownOnlyAsFingerprints() throws {
        let key = "sk-proj-PLANTEDkey0123456789wxyz"
        let created = try create("main", hostA.baseURL + "/", key: key)
        #expect(created.status == 201)
        #expect(created.json?["base_url"]?.stringValue == hostA.baseURL)
        #expect(created.json?["api_key"] == ["set": true, "storage": "encrypted", "fingerprint": "sk-proj-…wxyz"])
        let short = try create("short", hostB.baseURL, key: "sk-short-123")
        #expect(short.json?["api_key"]?["fingerprint"] == .null)
        for response in [created, short, try admin.get("/admin/connections"), try admin.get("/admin/connections/1")] {
            #expect(!response.body.contains("PLANTEDkey"))
            #expect(!response.body.contains("sk-short-123"))
        }
        let stored = try stack.sql("SELECT api_key_ciphertext FROM connections ORDER BY id LIMIT 1")
        #expect(stored.hasPrefix("ct1."))
    }

    @Test func baseURLOutsideTheAllowlistIsRefusedEverywhere() throws {
        let refused = try create("evil", "https://evil.example.com/v1", key: "sk-evil-0123456789abcdef")
        #expect(refused.status == 400 && refused.errorCode == "base_url_not_allowed")
        for sneaky in ["http://user:pw@127.0.0.1:\(hostA.port)/v1", "\(hostA.baseURL)?x=1", "\(hostA.baseURL)/extra", "ftp://127.0.0.1/v1"]
        {
            #expect(try create("sneaky", sneaky, key: nil).errorCode == "base_url_not_allowed", "\(sneaky)")
        }
        let id = try #require(try create("ok", hostA.baseURL, key: "sk-ok-0123456789abcdef").json?["id"]?.intValue)
        let update = try admin.put(
            "/admin/connections/\(id)", ["name": "ok", "base_url": "https://evil.example.com/v1", "api_key": "sk-new-0123456789abcdef"])
        #expect(update.status == 400 && update.errorCode == "base_url_not_allowed")
        let imported = try admin.post(
            "/admin/config/import", ["connections": [["name": "evil", "kind": "openai", "base_url": "https://evil.example.com/v1"]]])
        #expect(imported.status == 422)
        #expect(imported.json?["problems"]?.arrayValue?.first?["code"]?.stringValue == "base_url_not_allowed")
        #expect(imported.json?["problems"]?.arrayValue?.first?["path"]?.stringValue == "connections[0].base_url")
        #expect(try admin.get("/admin/connections").json?["connections"]?.arrayValue?.count == 1)
    }

    @Test func updateMustBringTheKeyOrClearIt() throws {
        let keyA = "sk-hostA-key-0123456789ABCD"
        let id = try #require(try create("moving", hostA.baseURL, key: keyA).json?["id"]?.intValue)
        // Moving to host B without the key: refused, so the old key can never reach host B.
        let moved = try admin.put("/admin/connections/\(id)", ["name": "moving", "base_url": .string(hostB.baseURL)])
        #expect(moved.status == 400 && moved.errorCode == "secret_required")
        let masked = try admin.put(
            "/admin/connections/\(id)", ["name": "moving", "base_url": .string(hostB.baseURL), "api_key": "sk-…ABCD"])
        #expect(masked.status == 400 && masked.errorCode == "masked_value_rejected")
        let stars = try admin.put("/admin/connections/\(id)", ["name": "moving", "base_url": .string(hostB.baseURL), "api_key": "sk-***"])
        #expect(stars.errorCode == "masked_value_rejected")
        #expect(try admin.get("/admin/connections/\(id)").json?["base_url"]?.stringValue == hostA.baseURL)

        _ = try admin.get("/models")
        #expect(try hostB.requests().isEmpty, "host B must never have been called")
        #expect(try hostA.requests().allSatisfy { $0["headers"]?["authorization"]?.stringValue == "Bearer " + keyA })

        let cleared = try admin.put(
            "/admin/connections/\(id)", ["name": "moving", "base_url": .string(hostB.baseURL), "clear_api_key": true])
        #expect(cleared.status == 200)
        #expect(cleared.json?["api_key"]?["set"] == false)
        _ = try admin.get("/models")
        #expect(try hostB.requests().isEmpty, "a cleared key is not sent anywhere")
    }

    @Test func modelsListsEachConnectionAndReportsFailuresSeparately() throws {
        let broken = try MockUpstream(["--status", "500"])
        let stack = try Stack(env: [
            "CONFIG_ENCRYPTION_KEY": encryptionKeyA,
            "OPENAI_ALLOWED_API_BASE_URLS": "\(hostA.baseURL),\(broken.baseURL)"
        ])
        let password = try stack.addUser("a@example.com", admin: true)
        let admin = try stack.login("a@example.com", password)
        _ = try admin.post(
            "/admin/connections",
            ["name": "good", "kind": "openai", "base_url": .string(hostA.baseURL), "api_key": "sk-good-0123456789abcdef"])
        _ = try admin.post(
            "/admin/connections",
            ["name": "bad", "kind": "openai", "base_url": .string(broken.baseURL), "api_key": "sk-bad-0123456789abcdef"])
        let userPassword = try stack.addUser("u@example.com")
        let models = try stack.login("u@example.com", userPassword).get("/models")
        #expect(models.status == 200)
        #expect(models.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["alpha-1", "alpha-2"])
        #expect(models.json?["errors"]?.arrayValue?.first?["connection"]?.stringValue == "bad")
        #expect(models.json?["errors"]?.arrayValue?.first?["code"]?.stringValue == "upstream_status")
        // Cached in Redis, names only: a second call does not reach the provider again.
        let before = try hostA.requests().count
        _ = try admin.get("/models")
        #expect(try hostA.requests().count == before)
        #expect(try stack.redis(["GET", "ct:models:1"]).contains("alpha-1"))
    }

    @Test func exportThenImportOnAFreshDatabaseRestoresConnections() throws {
        let key = "sk-export-roundtrip-0123456789QRST"
        _ = try create("exported", hostA.baseURL, key: key)
        _ = try admin.request("PATCH", "/admin/config", body: Data(#"{"remote_file_max_size_mb": 12}"#.utf8))
        let plain = try admin.get("/admin/config/export")
        #expect(plain.status == 200)
        #expect(plain.json?["connections"]?.arrayValue?.first?["api_key"] == nil)
        #expect(plain.json?["omitted_secrets"]?.arrayValue == ["connections[0].api_key"])
        let sealed = try admin.get("/admin/config/export?secrets=encrypted")
        #expect(!sealed.body.contains("export-roundtrip"))
        #expect(sealed.json?["connections"]?.arrayValue?.first?["api_key"]?["ciphertext"]?.stringValue?.hasPrefix("ct1.") == true)
        #expect(try admin.get("/admin/config/export?secrets=plaintext").status == 400)

        // Same key, fresh database: everything comes back, and the restored key really works.
        let fresh = try Stack(env: [
            "CONFIG_ENCRYPTION_KEY": encryptionKeyA, "OPENAI_ALLOWED_API_BASE_URLS": "\(hostA.baseURL),\(hostB.baseURL)"
        ])
        let freshAdmin = try fresh.signedIn("root@example.com", admin: true)
        let dry = try freshAdmin.request("POST", "/admin/config/import?dry_run=true", body: sealed.body)
        #expect(dry.json?["applied"] == false && dry.json?["created"] == 1)
        #expect(try freshAdmin.get("/admin/connections").json?["connections"]?.arrayValue?.isEmpty == true)
        let applied = try freshAdmin.request("POST", "/admin/config/import", body: sealed.body)
        #expect(applied.status == 200 && applied.json?["applied"] == true && applied.json?["created"] == 1)
        let restored = try #require(try freshAdmin.get("/admin/connections").json?["connections"]?.arrayValue?.first)
        #expect(restored["api_key"]?["fingerprint"]?.stringValue == "sk-…QRST")
        #expect(try freshAdmin.get("/admin/config").json?["settings"]?["remote_file_max_size_mb"] == 12)
        _ = try freshAdmin.get("/models")
        #expect(try hostA.requests().contains { $0["headers"]?["authorization"]?.stringValue == "Bearer " + key })

        // Another key: the ciphertext is refused, nothing is written.
        let other = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyB, "OPENAI_ALLOWED_API_BASE_URLS": hostA.baseURL])
        let otherAdmin = try other.signedIn("o@example.com", admin: true)
        let refused = try otherAdmin.request("POST", "/admin/config/import", body: sealed.body)
        #expect(refused.status == 422)
        #expect(refused.json?["problems"]?.arrayValue?.first?["code"]?.stringValue == "undecryptable_secret")
        #expect(try otherAdmin.get("/admin/connections").json?["connections"]?.arrayValue?.isEmpty == true)

        // No key at all: plaintext secrets in an import are dropped and listed, never stored.
        let keyless = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": hostA.baseURL])
        let keylessAdmin = try keyless.signedIn("k@example.com", admin: true)
        let dropped = try keylessAdmin.post(
            "/admin/config/import",
            ["connections": [["name": "n", "kind": "openai", "base_url": .string(hostA.baseURL), "api_key": "sk-dropped-0123456789abcd"]]])
        #expect(dropped.json?["dropped_secrets"]?.arrayValue == ["connections[0].api_key"])
        #expect(try keylessAdmin.get("/admin/connections").json?["connections"]?.arrayValue?.first?["api_key"]?["set"] == false)
        #expect(!keyless.persistedBytes().contains { $0.1.contains("sk-dropped") })
    }

    @Test func importIsAllOrNothing() throws {
        let document: JSON = [
            "connections": [
                ["name": "fine", "kind": "openai", "base_url": .string(hostA.baseURL), "api_key": "sk-fine-0123456789abcd"],
                ["name": "broken", "kind": "nonsense", "base_url": .string(hostA.baseURL)]
            ], "settings": ["enable_ssrf_protection": "yes please"]
        ]
        let r = try admin.post("/admin/config/import", document)
        #expect(r.status == 422)
        let paths = r.json?["problems"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        #expect(paths.contains("connections[1].kind"))
        #expect(paths.contains("settings.enable_ssrf_protection"))
        #expect(try admin.get("/admin/connections").json?["connections"]?.arrayValue?.isEmpty == true)
        #expect(try admin.get("/admin/config").json?["settings"]?["enable_ssrf_protection"] == true)
    }
}
