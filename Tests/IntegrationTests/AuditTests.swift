import Foundation
import Support
import Testing

/// The audit trail through nginx: each action family's event (action, actor, target, outcome and
/// exact details), the reading endpoint and its refusals, the operator commands, and tampering.
@Suite("Audit trail and retention", .serialized)
struct AuditTests {
    static func events(_ admin: Client, _ query: String = "") throws -> [JSON] {
        let r = try admin.get("/admin/audit?limit=500" + query)
        guard r.status == 200 else { throw StackError("audit: \(r.status) \(r.text)") }
        return r.json?["events"]?.arrayValue ?? []
    }

    static func last(_ admin: Client, _ action: String) throws -> JSON {
        guard let event = try events(admin, "&action=" + action).first else { throw StackError("no \(action) event") }
        return event
    }

    @Test func accountsTokensAndSessions() throws {
        let stack = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyA])
        let password = try stack.addUser("admin@example.com", admin: true)
        let admin = try stack.login("admin@example.com", password)
        // `user add` is an operator's; the login that followed is the admin's own.
        let added = try Self.last(admin, "user.create")
        #expect(added["actor"] == ["type": "operator", "user_id": .null, "email": .null])
        #expect(added["target"]?["name"] == "admin@example.com" && added["details"]?["role"] == "admin")
        let login = try Self.last(admin, "auth.login")
        #expect(login["actor"]?["email"] == "admin@example.com" && login["outcome"] == "ok" && login["client"] == "127.0.0.1")

        let created = try admin.post("/admin/users", ["email": "pat@example.com", "password": "pat-password-0123"])
        let patID = try #require(created.json?["user"]?["id"]?.intValue)
        let create = try Self.last(admin, "user.create")
        #expect(create["actor"] == ["type": "user", "user_id": 1, "email": "admin@example.com"])
        #expect(create["target"] == ["type": "user", "id": .string(String(patID)), "name": "pat@example.com"])
        #expect(
            create["details"] == [
                "email": "pat@example.com", "role": "user", "disabled": false,
                "password": ["change": "set", "generated": false]
            ])
        #expect(try admin.patch("/admin/users/\(patID)", ["disabled": true]).status == 200)
        #expect(
            try Self.last(admin, "user.update")["details"] == [
                "disabled": ["before": false, "after": true],
                "sessions_and_tokens_ended": true
            ])

        let token = try #require(try admin.post("/tokens", ["name": "ci"]).json)
        let issued = try Self.last(admin, "token.create")
        #expect(issued["target"] == ["type": "token", "id": .string(String(token["id"]?.intValue ?? 0)), "name": "ci"])
        #expect(issued["details"]?["prefix"] == token["prefix"])
        #expect(try admin.delete("/tokens/\(token["id"]?.intValue ?? 0)").status == 204)
        #expect(try Self.last(admin, "token.revoke")["outcome"] == "ok")

        // A failed login names the existing account and the client; an unknown one is not written.
        #expect(try Client(base: stack.base).post("/auth/login", ["email": "pat@example.com", "password": "wrong-guess-1"]).status == 401)
        let failed = try Self.last(admin, "auth.login_failed")
        #expect(failed["outcome"] == "failed" && failed["client"] == "127.0.0.1" && failed["details"] == ["reason": "wrong_password"])
        #expect(failed["target"]?["name"] == "pat@example.com")

        // A user (not admin) trying an admin change: denied, on its own.
        let bob = try stack.signedIn("bob@example.com")
        #expect(try bob.patch("/admin/config", ["default_model": "x"]).status == 403)
        let denied = try Self.last(admin, "config.update")
        #expect(denied["outcome"] == "denied" && denied["actor"]?["email"] == "bob@example.com")
        #expect(denied["details"] == ["error": "forbidden", "status": 403])

        // Deleting a user: who, with the chats that went with them, by the admin.
        #expect(try admin.delete("/admin/users/\(patID)").status == 204)
        let gone = try Self.last(admin, "user.delete")
        #expect(gone["actor"]?["email"] == "admin@example.com" && gone["outcome"] == "ok")
        #expect(gone["target"] == ["type": "user", "id": .string(String(patID)), "name": "pat@example.com"])
        #expect(gone["details"] == ["email": "pat@example.com", "role": "user", "chats_deleted": 0])

        // Deleting one chat: its id and owner only, never its title.
        let chat = try #require(try admin.post("/chats", ["title": "a title that must not be audited"]).json?["id"]?.intValue)
        #expect(try admin.delete("/chats/\(chat)").status == 204)
        let chatGone = try Self.last(admin, "chat.delete")
        #expect(chatGone["target"]?["type"] == "chat" && chatGone["target"]?["id"] == .string(String(chat)))
        #expect(chatGone["details"] == ["owner_id": 1])
        #expect(!chatGone.serialized().contains("must not be audited"))

        let other = try stack.login("admin@example.com", password)
        #expect(try other.request("POST", "/auth/logout").status == 204)
        let logout = try Self.last(admin, "auth.logout")
        #expect(logout["actor"]?["type"] == "user" && logout["target"]?["name"] == "admin@example.com")
    }
}

extension AuditTests {
    @Test func connectionsSettingsTransferAndValves() throws {
        let stack = try Stack(env: [
            "CONFIG_ENCRYPTION_KEY": encryptionKeyA,
            "OPENAI_ALLOWED_API_BASE_URLS": "https://api.example.com/v1,https://other.example.com/v1"
        ])
        let admin = try stack.signedIn("admin@example.com", admin: true)
        let made = try admin.post(
            "/admin/connections",
            [
                "name": "main", "base_url": "https://api.example.com/v1",
                "api_key": "sk-audit-first-key-00001111"
            ])
        let id = try #require(made.json?["id"]?.intValue)
        let create = try Self.last(admin, "connection.create")
        #expect(create["target"] == ["type": "connection", "id": .string(String(id)), "name": "main"])
        #expect(
            create["details"] == [
                "name": "main", "kind": "openai", "base_url": "https://api.example.com/v1", "api_version": .null,
                "enabled": true, "allowed_groups": [], "api_key": ["change": "set", "fingerprint": "sk-…1111"]
            ])
        #expect(
            try admin.put(
                "/admin/connections/\(id)",
                [
                    "base_url": "https://other.example.com/v1",
                    "api_key": "sk-audit-second-key-2222"
                ]
            ).status == 200)
        #expect(
            try Self.last(admin, "connection.update")["details"] == [
                "base_url": ["before": "https://api.example.com/v1", "after": "https://other.example.com/v1"],
                "api_key": ["change": "replaced", "fingerprint": "sk-…2222"]
            ])
        // A refused change is recorded as failed, without what was sent.
        #expect(try admin.put("/admin/connections/\(id)", ["base_url": "https://evil.example.net/v1"]).status == 400)
        let refused = try Self.last(admin, "connection.update")
        #expect(refused["outcome"] == "failed" && refused["details"]?["error"] == "base_url_not_allowed")
        #expect(try admin.delete("/admin/connections/\(id)").status == 204)
        #expect(try Self.last(admin, "connection.delete")["details"]?["api_key_was_set"] == true)

        // A refused download (before the guard is turned down below), without its path or query.
        let user = try stack.signedIn("user@example.com")
        #expect(try user.post("/files/fetch", ["url": "https://127.0.0.1:9/hook/secret-path?token=q"]).status == 403)
        let fetch = try Self.last(admin, "files.fetch_refused")
        #expect(fetch["outcome"] == "denied" && fetch["details"]?["url"] == "https://127.0.0.1:9")
        #expect(fetch["actor"]?["email"] == "user@example.com")
        // An operator's rotation run, by the CLI.
        #expect(try stack.cli(["reencrypt"]).status == 0)
        let rotation = try Self.last(admin, "secrets.reencrypt")
        #expect(rotation["actor"]?["type"] == "operator" && rotation["outcome"] == "ok" && rotation["details"]?["failed"] == 0)
        #expect(rotation["target"]?["type"] == "database" && rotation["details"]?["key_id"]?.stringValue?.count == 8)
        #expect(try admin.patch("/admin/config", ["enable_ssrf_protection": false]).status == 200)
        let changed = try Self.last(admin, "config.update")["details"]?["changes"]
        #expect(changed == ["enable_ssrf_protection": ["before": true, "after": false]])
        let export = try admin.get("/admin/config/export?secrets=encrypted")
        #expect(export.status == 200)
        #expect(try Self.last(admin, "config.export")["details"]?["secrets"] == "encrypted")
        let document: JSON = ["connections": [["name": "side", "base_url": "https://api.example.com/v1"]]]
        let dry = try admin.request("POST", "/admin/config/import?dry_run=true", body: Data(document.serialized().utf8))
        #expect(dry.status == 200)
        let imported = try Self.last(admin, "config.import")
        #expect(imported["details"]?["dry_run"] == true && imported["details"]?["connections"]?.arrayValue?.first?["action"] == "created")
        // Applied: the same record, with the key's change (never the key) and the settings' before and after.
        let applying: JSON = [
            "settings": ["remote_file_max_size_mb": 7],
            "connections": [["name": "side2", "base_url": "https://api.example.com/v1", "api_key": "sk-import-audit-key-7777"]]
        ]
        #expect(try admin.post("/admin/config/import", applying).status == 200)
        let applied = try Self.last(admin, "config.import")
        #expect(applied["outcome"] == "ok" && applied["details"]?["dry_run"] == false && applied["details"]?["created"] == 1)
        let entry = applied["details"]?["connections"]?.arrayValue?.first
        #expect(entry?["name"] == "side2" && entry?["action"] == "created" && entry?["api_key"]?["change"] == "set")
        #expect(entry?["api_key"]?["fingerprint"]?.stringValue?.hasSuffix("7777") == true)
        #expect(applied["details"]?["settings"] == ["remote_file_max_size_mb": ["before": 50, "after": 7]], "\(applied)")
        #expect(!applied.serialized().contains("import-audit-key"))

        #expect(
            try admin.put(
                "/admin/pipes/openrouter/valves",
                [
                    "valves": [
                        "API_KEY": "sk-or-v1-audit-valve-key-3333",
                        "ARTIFACT_CLEANUP_DAYS": 30
                    ]
                ]
            ).status == 200)
        #expect(
            try Self.last(admin, "pipe.valves_update")["details"] == [
                "valves": [
                    "API_KEY": ["change": "set", "fingerprint": "sk-or-v1-…3333"],
                    "ARTIFACT_CLEANUP_DAYS": ["before": "90", "after": "30"]
                ]
            ])

    }

    @Test func readingTheTrailIsAdminOnlyAndItsQueryIsDeclared() throws {
        let stack = try Stack()
        let admin = try stack.signedIn("admin@example.com", admin: true)
        let user = try stack.signedIn("user@example.com")
        for n in 0..<5 { _ = try admin.post("/tokens", ["name": .string("t\(n)")]) }
        #expect(try user.get("/admin/audit").status == 403)
        #expect(try Client(base: stack.base).get("/admin/audit").status == 401)
        for bad in [
            "action=auth.everything", "limit=100000", "limit=-1", "limit=1e3", "since=abc", "before=0",
            "action=token.create&action=user.create", "actor=%0aadmin", "actor=a%00b@example.com", "sort=id",
            "since=20&until=10"
        ] {
            let r = try admin.get("/admin/audit?" + bad)
            #expect(r.status == 400 && r.errorCode == "invalid_field", "\(bad): \(r.status) \(r.text)")
        }
        let first = try #require(try admin.get("/admin/audit?action=token.create&limit=3").json)
        let page = first["events"]?.arrayValue ?? []
        #expect(page.count == 3 && page.map { $0["target"]?["name"] } == ["t4", "t3", "t2"])
        let cursor = try #require(first["next_before"]?.intValue)
        let second = try #require(try admin.get("/admin/audit?action=token.create&limit=3&before=\(cursor)").json)
        #expect(second["events"]?.arrayValue?.map { $0["target"]?["name"] } == ["t1", "t0"] && second["next_before"] == .null)
        let byActor = try Self.events(admin, "&actor=user%40example.com")
        #expect(!byActor.isEmpty && byActor.allSatisfy { $0["actor"]?["email"] == "user@example.com" })
        #expect(try Self.events(admin, "&actor=operator").allSatisfy { $0["actor"]?["type"] == "operator" })
    }

    @Test func verifyExportCleanupAndTampering() throws {
        let stack = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyA, "AUDIT_RETENTION_DAYS": "30", "CHAT_RETENTION_DAYS": "30"])
        let admin = try stack.signedIn("admin@example.com", admin: true)
        for n in 0..<4 { _ = try admin.post("/tokens", ["name": .string("t\(n)")]) }
        let verified = try stack.cli(["audit", "verify"])
        #expect(verified.status == 0 && verified.stdout.contains("audit chain whole: 6 events"), "\(verified.stdout)\(verified.stderr)")

        // Old events and chats, by the clock moved back on their rows.
        let old = try #require(try admin.post("/chats", ["title": "old chat"]).json?["id"]?.intValue)
        _ = try admin.post("/chats", ["title": "new chat"])
        let past = Int(Date().timeIntervalSince1970) - 40 * 86_400
        try stack.sql("UPDATE chats SET updated_at = \(past) WHERE id = \(old)")
        // The first three events aged by hand: their macs no longer match, until retention drops them.
        // SQLite has a trigger per operation; PostgreSQL one for both, switched off for the edit only.
        let sqlite = stack.engine == .sqlite
        try stack.sql(
            sqlite
                ? "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET ts = \(past) WHERE id <= 3"
                : "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change; UPDATE audit_events SET ts = \(past) WHERE id <= 3; "
                    + "ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change")
        let aged = try stack.cli(["audit", "verify"])
        #expect(aged.status == 1 && aged.stdout.contains("event 1 (edited)"), "\(aged.stdout)")
        let cleaned = try stack.cli(["cleanup"])
        #expect(cleaned.status == 0, "\(cleaned.stderr)")
        #expect(try admin.get("/chats/\(old)").status == 404)
        let cleanup = try Self.last(admin, "retention.cleanup")
        #expect(cleanup["actor"]?["type"] == "operator" && cleanup["details"]?["chats_deleted"] == 1)
        #expect(cleanup["details"]?["audit_events_pruned"] == 3)
        let whole = try stack.cli(["audit", "verify"])
        #expect(whole.status == 0 && whole.stdout.contains("(events 4..."), "\(whole.stdout)\(whole.stderr)")

        let export = try stack.cli(["audit", "export", "--since", "0"])
        let lines = export.stdout.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
        #expect(export.status == 0 && lines.count == 4 && lines.first?["id"] == 4)
        #expect(try stack.cli(["audit", "export", "--since", "soon"]).status == 2)

        // Edit, delete, insert: each named.
        let forged =
            "INSERT INTO audit_events SELECT id + 100, ts, actor_type, actor_user_id, actor_email, client, request_id, action, "
            + "target_type, target_id, target_name, outcome, details, (SELECT MAX(id) FROM audit_events), key_id, mac "
            + "FROM audit_events WHERE id = 5"
        try stack.sql(forged)
        let inserted = try stack.cli(["audit", "verify"])
        #expect(inserted.status == 1 && inserted.stdout.contains("event 105"), "\(inserted.stdout)")
        try stack.sql(
            (sqlite ? "DROP TRIGGER audit_events_no_delete; " : "DROP TRIGGER audit_events_no_change ON audit_events; ")
                + "DELETE FROM audit_events WHERE id = 105; UPDATE audit_events SET details = '{}' WHERE id = 6")
        let edited = try stack.cli(["audit", "verify"])
        #expect(edited.status == 1 && edited.stdout.contains("event 6 (edited)"), "\(edited.stdout)")
        try stack.sql("DELETE FROM audit_events WHERE id = 6")
        let deleted = try stack.cli(["audit", "verify"])
        #expect(deleted.status == 1 && deleted.stdout.contains("event 7 (deleted)"), "\(deleted.stdout)")
    }
}

extension AuditTests {
    /// Unique secrets and sentences through every path that records an event, then a grep of every
    /// audit row (`stack.sql`) and of `audit export`.
    @Test func plantedSecretsNeverReachTheTrail() throws {
        let stack = try Stack(env: [
            "CONFIG_ENCRYPTION_KEY": encryptionKeyA, "WEBUI_SECRET_KEY": webuiKeyA,
            "OPENAI_ALLOWED_API_BASE_URLS": "https://api.example.com/v1"
        ])
        let tag = UUID().uuidString.prefix(8)
        var planted = [
            "pw-user-\(tag)-aaaa", "pw-reset-\(tag)-bbbb", "sk-conn-\(tag)-cccc-0000", "sk-conn2-\(tag)-dddd-0000",
            "sk-or-v1-valve-\(tag)-eeee", "artifact-key-\(tag)-ffff-0123456789", "zip-pw-\(tag)-gggg",
            "sentence \(tag) the heron flies at dusk", "second sentence \(tag) of quiet rivers", "typed-\(tag)-into-email",
            "sk-import-\(tag)-hhhh-0000", "hook-\(tag)-path", "query-\(tag)-token", "sk-refused-\(tag)-iiii-0000"
        ]
        let adminPassword = try stack.addUser("admin@example.com", admin: true)
        planted.append(adminPassword)
        let admin = try stack.login("admin@example.com", adminPassword)
        let user = try #require(try admin.post("/admin/users", ["email": "sweep@example.com", "password": .string(planted[0])]).json)
        let userID = try #require(user["user"]?["id"]?.intValue)
        _ = try admin.patch("/admin/users/\(userID)", ["password": .string(planted[1])])
        let conn = try #require(
            try admin.post(
                "/admin/connections",
                [
                    "name": "c", "base_url": "https://api.example.com/v1",
                    "api_key": .string(planted[2])
                ]
            ).json?["id"]?.intValue)
        _ = try admin.put("/admin/connections/\(conn)", ["api_key": .string(planted[3])])
        _ = try admin.put("/admin/connections/\(conn)", ["base_url": "https://elsewhere.example.com/v1", "api_key": .string(planted[13])])
        _ = try admin.put(
            "/admin/pipes/openrouter/valves",
            [
                "valves": [
                    "API_KEY": .string(planted[4]),
                    "ARTIFACT_ENCRYPTION_KEY": .string(planted[5]), "SESSION_LOG_ZIP_PASSWORD": .string(planted[6])
                ]
            ])
        let apiToken = try #require(try admin.post("/tokens", ["name": "sweep"]).json?["token"]?.stringValue)
        let cliToken = try stack.cli(["token", "create", "--user", "admin@example.com"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        planted += [apiToken, cliToken]
        let chat = try #require(try admin.post("/chats", ["title": .string(planted[7])]).json?["id"]?.intValue)
        _ = try admin.patch("/chats/\(chat)", ["title": .string(planted[8])])
        #expect(try admin.delete("/chats/\(chat)").status == 204)
        _ = try admin.post("/chats", ["title": .string(planted[8])])
        #expect(try admin.delete("/chats?confirm=all").json?["deleted"] == 1)
        _ = try Client(base: stack.base).post("/auth/login", ["email": .string(planted[9]), "password": .string(planted[0])])
        _ = try Client(base: stack.base).post("/auth/login", ["email": "admin@example.com", "password": .string(planted[9])])
        let document: JSON = ["connections": [["name": "imp", "base_url": "https://api.example.com/v1", "api_key": .string(planted[10])]]]
        _ = try admin.request("POST", "/admin/config/import", body: Data(document.serialized().utf8))
        _ = try admin.get("/admin/config/export?secrets=encrypted")
        _ = try admin.post("/files/fetch", ["url": .string("https://127.0.0.1:9/\(planted[11])?q=\(planted[12])")])
        #expect(try stack.cli(["cleanup"]).status == 0)

        let rows = try stack.sql("SELECT * FROM audit_events; SELECT * FROM audit_checkpoint")
        let export = try stack.cli(["audit", "export"]).stdout
        #expect(rows.split(separator: "\n").count >= 15 && export.split(separator: "\n").count >= 15)
        for secret in planted {
            #expect(!rows.contains(secret) && !export.contains(secret), "\(secret) reached the audit trail")
        }
    }
}
