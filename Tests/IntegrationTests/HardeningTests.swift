import Foundation
import Support
import Synchronization
import Testing

/// The attacks of the hardening issue, each tried the way an attacker would: through nginx,
/// against the real responder, Redis and SQLite.
@Suite("Hardening: attacks from the adversarial read fail", .serialized)
struct HardeningTests {
    func admin(_ stack: Stack) throws -> Client {
        try stack.signedIn("admin@example.com", admin: true)
    }

    /// A checkpointed copy of every database file (db, WAL, SHM) as bytes; on PostgreSQL a `pg_dump`.
    func databaseBytes(_ stack: Stack) throws -> [(String, Data)] {
        if stack.engine == .sqlite { try stack.sql("PRAGMA wal_checkpoint(TRUNCATE);") }
        return stack.persistedBytes().filter { $0.0.hasPrefix("cryotensor.db") || $0.0 == "pg_dump" }
    }

    /// U+0000 in any text a request stores is 400 `invalid_field` on both engines (PostgreSQL's
    /// text cannot hold it; SQLite's could, and the API answers the same).
    @Test func aNulInStoredTextIsRefusedWith400() throws {
        let stack = try Stack()
        let admin = try admin(stack)
        let nul = "a\u{0}b"
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let attempts: [(String, HTTPResult)] = [
            ("chat title", try admin.post("/chats", ["title": .string(nul)])),
            ("rename", try admin.patch("/chats/\(chat)", ["title": .string(nul)])),
            ("message", try admin.post("/chats/\(chat)/messages", ["content": .string(nul), "model": "m"])),
            ("token name", try admin.post("/tokens", ["name": .string(nul)])),
            ("user email", try admin.post("/admin/users", ["email": .string("x\u{0}@example.com"), "password": "pw-0123456789ab"])),
            ("connection name", try admin.post("/admin/connections", ["name": .string(nul), "base_url": "https://api.example.com/v1"])),
            ("setting", try admin.patch("/admin/config", ["default_model": .string(nul)]))
        ]
        for (what, r) in attempts {
            #expect(r.status == 400 && r.errorCode == "invalid_field", "\(what): \(r.status) \(r.text)")
        }
        let imported = try admin.post(
            "/admin/config/import?dry_run=true", ["connections": [["name": .string(nul), "base_url": "https://api.example.com/v1"]]])
        #expect(imported.status == 422 && imported.text.contains("connections[0].name"), "import: \(imported.status) \(imported.text)")
        let setting = try admin.post("/admin/config/import?dry_run=true", ["settings": ["default_model": .string(nul)]])
        #expect(setting.status == 422, "import setting: \(setting.status) \(setting.text)")
        #expect(try admin.get("/chats").json?["chats"]?.arrayValue?.count == 1, "nothing of a refused request is stored")
        #expect(try Client(base: stack.base).get("/health").status == 200)
    }

    @Test func extremeNumbersAreRefusedAndTheServiceLives() throws {
        let stack = try Stack()
        let admin = try admin(stack)
        let numeric = [
            "base64_max_size_mb", "remote_file_max_size_mb", "remote_download_max_retries", "video_max_size_mb",
            "remote_download_initial_retry_delay_seconds", "remote_download_max_retry_time_seconds"
        ]
        for name in numeric {
            for value: JSON in [
                .number(1e300), .number(-1e300), .number(9.3e18), .number(-1), .number(1e-300), .number(2.5e15),
                .string("5"), .null
            ] {
                let r = try admin.patch("/admin/config", .object([name: value]))
                #expect(r.status == 400 && r.errorCode == "invalid_field", "\(name)=\(value.serialized()): \(r.status) \(r.text)")
                let dry = try admin.post("/admin/config/import?dry_run=true", ["settings": .object([name: value])])
                #expect(dry.status == 422, "import \(name)=\(value.serialized()): \(dry.status)")
            }
        }
        // The raw text an attacker would send, numbers JSON.serialize would never write.
        let raw = try admin.request(
            "PATCH", "/admin/config",
            body: Data(#"{"base64_max_size_mb": 1e400, "video_max_size_mb": -1E+999}"#.utf8))
        #expect(raw.status == 400)
        #expect(try Client(base: stack.base).get("/health").status == 200, "the service is alive")
        #expect(try admin.patch("/admin/config", ["base64_max_size_mb": .number(12.5)]).status == 200, "a sane value still works")
    }

    @Test func aDeletedUsersWordsLeaveNoTraceAndIDsAreNeverReused() throws {
        let stack = try Stack()
        let admin = try admin(stack)
        _ = try stack.addUser("alice@example.com", password: "alice-password-1234")
        let alice = try stack.login("alice@example.com", "alice-password-1234")
        let planted = "zebraquantum" + UUID().uuidString.prefix(8).lowercased()
        let sentence = "the \(planted) sentence alice wrote"
        let chat = try #require(try alice.post("/chats", ["title": .string(sentence)]).json?["id"]?.intValue)
        #expect(try alice.get("/chats/search?q=\(planted)").json?["results"]?.arrayValue?.count == 1)
        let users = try admin.get("/admin/users").json?["users"]?.arrayValue ?? []
        let aliceID = try #require(users.first { $0["email"] == "alice@example.com" }?["id"]?.intValue)
        #expect(try admin.delete("/admin/users/\(aliceID)").status == 204)

        _ = try stack.addUser("bob@example.com", password: "bob-password-12345")
        let bob = try stack.login("bob@example.com", "bob-password-12345")
        let bobChat = try #require(try bob.post("/chats", ["title": "bob"]).json?["id"]?.intValue)
        #expect(bobChat > chat, "a chat id is never given out twice")
        let bobID = try #require(try bob.get("/auth/me").json?["user"]?["id"]?.intValue)
        #expect(bobID > aliceID, "a user id is never given out twice")
        #expect(try bob.get("/chats/search?q=\(planted)").json?["results"]?.arrayValue?.isEmpty == true)
        #expect(try bob.get("/chats/\(chat)").status == 404)
        for (name, data) in try databaseBytes(stack) {
            #expect(!data.contains(planted), "the deleted user's word is still in \(name)")
        }
    }

    @Test func whoeverWritesToRedisCannotTurnTheGuardOff() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let admin = try admin(stack)
        let metadata = "http://169.254.169.254/latest/meta-data/"
        #expect(try admin.post("/files/fetch", ["url": .string(metadata), "dry_run": true]).json?["allowed"] == false)
        // What the old design trusted: a settings document and version in Redis.
        let forged =
            #"{"version":99,"overrides":{"ENABLE_SSRF_PROTECTION":"false","ALLOW_INSECURE_HTTP":"true","#
            + #""ALLOW_INSECURE_HTTP_HOSTS":"169.254.169.254"}}"#
        _ = try stack.redis(["SET", "ct:config:doc", forged])
        _ = try stack.redis(["SET", "ct:config:version", "99"])
        for _ in 0..<8 {
            let r = try admin.post("/files/fetch", ["url": .string(metadata), "dry_run": true])
            #expect(r.json?["allowed"] == false, "forged Redis settings must not open the guard: \(r.text)")
        }
        #expect(try admin.get("/admin/config").json?["settings"]?["enable_ssrf_protection"] == true)

        // A forged model list would route a model name to a connection (and its key).
        let created = try admin.post(
            "/admin/connections",
            [
                "name": "m", "kind": "openai", "base_url": .string(upstream.baseURL),
                "api_key": "sk-model-route-key-0123456789"
            ])
        let id = try #require(created.json?["id"]?.intValue)
        #expect(try admin.get("/models").status == 200)
        _ = try stack.redis(["SET", "ct:models:\(id)", #"{"names":["planted-model"],"mac":"00"}"#])
        _ = try stack.redis(["SET", "ct:models:\(id)", #"["planted-model"]"#])
        let models = try admin.get("/models").json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        #expect(!models.contains("planted-model") && models.contains("mock-gpt-4o"))
    }

    @Test func aChangedBaseURLNeverCarriesAnOldKeyToTheNewHost() throws {
        let hostA = try MockUpstream()
        let hostB = try MockUpstream()
        let envKey = "sk-or-v1-ENVKEY-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        // Memory mode (no CONFIG_ENCRYPTION_KEY): an imported key is dropped, never stored.
        let stack = try Stack(env: [
            "OPENAI_ALLOWED_API_BASE_URLS": "\(hostA.baseURL),\(hostB.baseURL)",
            "OPENROUTER_API_KEY": envKey, "OPENROUTER_API_KEY_BASE_URL": hostA.baseURL
        ])
        let admin = try admin(stack)
        let oldKey = "sk-OLDKEY-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        #expect(
            try admin.post(
                "/admin/connections",
                [
                    "name": "c", "kind": "openai", "base_url": .string(hostA.baseURL),
                    "api_key": .string(oldKey)
                ]
            ).status == 201)
        let imported = try admin.post(
            "/admin/config/import",
            [
                "connections": [
                    [
                        "name": "c", "kind": "openai",
                        "base_url": .string(hostB.baseURL),
                        "api_key": "sk-NEWKEY-dropped-in-memory-mode"
                    ]
                ]
            ])
        #expect(imported.json?["applied"] == true)
        #expect(imported.json?["dropped_secrets"]?.arrayValue?.count == 1)
        #expect(try admin.get("/admin/connections").json?["connections"]?.arrayValue?.first?["api_key"]?["set"] == false)

        // (b) The pipe on the environment key: fine on the host it is bound to, detached elsewhere.
        #expect(try admin.put("/admin/pipes/openrouter/valves", ["valves": ["BASE_URL": .string(hostA.baseURL)]]).status == 200)
        _ = try admin.get("/models")
        #expect(try hostA.requests().contains { $0["headers"]?["authorization"]?.stringValue == "Bearer " + envKey })
        #expect(try admin.put("/admin/pipes/openrouter/valves", ["valves": ["BASE_URL": .string(hostB.baseURL)]]).status == 200)
        _ = try admin.get("/models")
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let turn = try admin.post("/chats/\(chat)/messages", ["content": "hi", "model": "openrouter/mock-gpt-4o", "stream": false])
        #expect(turn.errorCode == "pipe_not_configured")
        let seenByB = try hostB.requests()
        for request in seenByB {
            let auth = request["headers"]?["authorization"]?.stringValue ?? ""
            #expect(!auth.contains(oldKey) && !auth.contains(envKey), "host B received an old key: \(request["path"] ?? .null)")
        }
    }

    @Test func everyFileTheServiceCreatesIsPrivate() throws {
        let stack = try Stack()
        let admin = try admin(stack)
        _ = try admin.post("/chats", ["title": "make the WAL grow"])
        // On PostgreSQL the store is the server's (its data directory is initdb's 0700): the log remains.
        let files = stack.engine == .sqlite ? ["cryotensor.db", "cryotensor.db-wal", "cryotensor.db-shm"] : []
        for name in files + ["log/cryotensor.log"] {
            let path = stack.dir.appendingPathComponent(name).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
            #expect(mode & 0o077 == 0, "\(name) is \(String(mode, radix: 8)), readable by others")
        }
    }

    @Test func loginGuessesAreCountedBeforeTheyAreChecked() throws {
        let stack = try Stack(env: ["CRYOTENSOR_LOGIN_MAX_FAILURES": "3"])
        _ = try stack.addUser("victim@example.com", password: "victim-password-123")
        // Twelve concurrent wrong guesses: at most three may reach the password check.
        let results = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            let status =
                (try? Client(base: stack.base).post(
                    "/auth/login",
                    [
                        "email": "victim@example.com",
                        "password": "wrong-guess-000"
                    ]))?.status ?? 0
            results.withLock { $0.append(status) }
        }
        let statuses = results.withLock { $0 }
        #expect(statuses.filter { $0 == 401 }.count <= 3, "\(statuses)")
        #expect(statuses.filter { $0 == 429 }.count >= 9, "\(statuses)")
        #expect(
            try Client(base: stack.base).post(
                "/auth/login",
                [
                    "email": "victim@example.com",
                    "password": "victim-password-123"
                ]
            ).status == 429)
    }

    @Test func nonAdminsGetTheVerdictButNotWhatNamesResolveTo() throws {
        let stack = try Stack()
        let admin = try admin(stack)
        _ = try stack.addUser("user@example.com", password: "user-password-1234")
        let user = try stack.login("user@example.com", "user-password-1234")
        for url in ["https://localhost/x", "https://127.0.0.1/x", "https://[::1]/x"] {
            let r = try user.post("/files/fetch", ["url": .string(url), "dry_run": true])
            #expect(r.json?["allowed"] == false && r.json?["code"] != nil)
            #expect(r.json?["addresses"] == nil && r.json?["address"] == nil)
            #expect(!r.text.contains("127.0.0.1") && !r.text.contains("::1"), "a user learns an address: \(r.text)")
            let fetched = try user.post("/files/fetch", ["url": .string(url)])
            #expect(fetched.status == 403 && !fetched.text.contains("127.0.0.1"))
        }
        let adminView = try admin.post("/files/fetch", ["url": "https://127.0.0.1/x", "dry_run": true])
        #expect(adminView.text.contains("127.0.0.1"), "admins still see the reason")
    }

    @Test func secretsWithControlCharactersAreRefused() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let admin = try admin(stack)
        for bad in ["sk-or-v1-abc\r\nX-Injected: 1", "sk-or-v1-abc\nX", "sk-or-v1-abc\u{0}def", "sk-or-v1-abc\tdef"] {
            let valves = try admin.put("/admin/pipes/openrouter/valves", ["valves": ["API_KEY": .string(bad)]])
            #expect(valves.status == 400 && valves.errorCode == "invalid_field")
            let connection = try admin.post(
                "/admin/connections",
                [
                    "name": "x", "kind": "openai", "base_url": .string(upstream.baseURL),
                    "api_key": .string(bad)
                ])
            #expect(connection.status == 400)
        }
        let check = try stack.cli(["check-config"], env: ["OPENROUTER_API_KEY": "sk-or\nX-Injected: 1"])
        #expect(check.status == 2 && check.stderr.contains("OPENROUTER_API_KEY"))
        let short = try stack.cli(["check-config"], env: ["WEBUI_SECRET_KEY": "short-webui-key"])
        #expect(short.status == 2 && short.stderr.contains("WEBUI_SECRET_KEY"))
        // Every bad variable is reported, not only the first, with the range a number must be in.
        let several = try stack.cli(
            ["check-config"],
            env: [
                "REMOTE_FILE_MAX_SIZE_MB": "0", "ENABLE_SSRF_PROTECTION": "maybe",
                "MAX_STREAMS_PER_USER": "0"
            ])
        #expect(several.status == 2)
        for name in ["REMOTE_FILE_MAX_SIZE_MB", "ENABLE_SSRF_PROTECTION", "MAX_STREAMS_PER_USER"] {
            #expect(several.stderr.contains(name), "\(name) not reported: \(several.stderr)")
        }
        #expect(several.stderr.contains("0.001 to 10240"))
        // The same settings from a file in systemd's syntax, a mid-line '#' kept as part of the value.
        let file = stack.dir.appendingPathComponent("env").path
        try "# settings\nWEBUI_SECRET_KEY=short # not a comment\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try stack.cli(["check-config", "--env-file", file])
        #expect(fromFile.status == 2 && fromFile.stderr.contains("WEBUI_SECRET_KEY"))
        // 26 characters before the '#', 33 with it: valid only if the '#' is part of the value.
        try "WEBUI_SECRET_KEY=abcdefghijklmnopqrstuvwxyz # 01234\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try stack.cli(["check-config", "--env-file", file]).status == 0)
        let masked = try stack.cli(["check-config"], env: ["REDIS_URL": "redis://ops:hunter2-redis-pass@127.0.0.1:6399/0"])
        #expect(masked.status == 0 && !masked.stdout.contains("hunter2") && masked.stdout.contains("***"))
    }

    @Test func sessionCookiesCannotBePlantedBySiblings() throws {
        let stack = try Stack()
        _ = try stack.addUser("user@example.com", password: "user-password-1234")
        let user = try stack.login("user@example.com", "user-password-1234")
        let session = try #require(user.sessionCookie)
        let fresh = Client(base: stack.base)
        #expect(try fresh.get("/auth/me", headers: ["Cookie": "ct_session=\(session)"]).status == 200)
        // A sibling subdomain planted a second cookie of the same name: ambiguous, so no session.
        #expect(try fresh.get("/auth/me", headers: ["Cookie": "ct_session=planted-value; ct_session=\(session)"]).status == 401)
        #expect(try fresh.get("/auth/me", headers: ["Cookie": "ct_session=\(session); ct_session=planted-value"]).status == 401)
        // On a real host name the cookie is Secure and carries the __Host- prefix.
        let login = try fresh.post(
            "/auth/login", ["email": "user@example.com", "password": "user-password-1234"],
            headers: ["Host": "chat.example.com"])
        let cookie = login.header("Set-Cookie") ?? ""
        #expect(
            cookie.hasPrefix("__Host-ct_session=") && cookie.contains("Secure") && cookie.contains("Path=/")
                && !cookie.contains("Domain"))
    }

    @Test func aPlainJSONAnswerToAStreamedRequestIsTheWholeAnswer() throws {
        let upstream = try MockUpstream(["--plain-json-stream"])
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let admin = try admin(stack)
        #expect(
            try admin.post(
                "/admin/connections",
                [
                    "name": "p", "kind": "openai", "base_url": .string(upstream.baseURL),
                    "api_key": "sk-plain-json-0123456789"
                ]
            ).status == 201)
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let events = try admin.streamEvents("/chats/\(chat)/messages", ["content": "plain please", "model": "mock-gpt-4o"])
            .compactMap { try? JSON.parse($0.data) }
        #expect(events.last?["type"] == "done", "\(events)")
        #expect(events.last?["message"]?["content"]?.stringValue == "Mock answer to: plain please")
        #expect(events.last?["message"]?["status"] == "complete")
    }

    @Test func redisWithAPasswordIsUsedAndThePasswordIsNeverShown() throws {
        let stack = try Stack()
        let password = "redis-pass-" + UUID().uuidString.prefix(8)
        _ = try stack.redis(["CONFIG", "SET", "requirepass", password])
        try stack.restartResponder(["REDIS_URL": "unix://\(stack.redisSocket)?password=\(password)"])
        let admin = try admin(stack)
        #expect(try admin.get("/admin/status").json?["redis"]?["status"] == "ok")
        try stack.restartResponder(["REDIS_URL": "unix://\(stack.redisSocket)?password=wrong-\(password)"])
        let status = try admin.get("/admin/status")
        #expect(status.json?["redis"]?["status"] == "down", "a wrong password is degraded mode, not a crash")
        #expect(!stack.log("cryotensor.log").contains(password), "the Redis password reached the log")
        #expect(!status.text.contains(password))
    }

    @Test func aProviderThatIsDownIsNotAnUnknownModel() throws {
        let upstream = try MockUpstream(["--status", "500"])
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let admin = try admin(stack)
        #expect(
            try admin.post(
                "/admin/connections",
                [
                    "name": "down", "kind": "openai", "base_url": .string(upstream.baseURL),
                    "api_key": "sk-down-provider-0123456789"
                ]
            ).status == 201)
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let r = try admin.post("/chats/\(chat)/messages", ["content": "x", "model": "mock-gpt-4o", "stream": false])
        #expect(r.status == 502 && r.errorCode == "models_unavailable" && r.header("Retry-After") != nil, "\(r.status) \(r.text)")
    }
}
