import Crypto
import Foundation
import Support
import Testing

let artifactKey = "artifact-key-0123456789"

@Suite("OpenRouter Responses pipe through nginx against the mock", .serialized)
struct PipeIntegrationTests {
    typealias Setup = PipeStack

    func setUp(valves: [String: JSON] = [:], mockArgs: [String] = [], env: [String: String] = [:]) throws -> Setup {
        var all: [String: JSON] = ["ARTIFACT_ENCRYPTION_KEY": .string(artifactKey)]
        for (k, v) in valves { all[k] = v }
        return try PipeStack(valves: all, mockArgs: mockArgs, env: env)
    }

    func turn(_ s: Setup, chat: Int, _ text: String) throws -> [JSON] {
        try s.admin.streamEvents(
            "/chats/\(chat)/messages",
            [
                "content": .string(text),
                "model": "openrouter/mock-gpt-4o"
            ]
        ).compactMap { try? JSON.parse($0.data) }
    }

    func responsesRequests(_ s: Setup) throws -> [JSON] {
        try s.mock.requests().filter { ($0["path"]?.stringValue ?? "").hasSuffix("/responses") }
            .compactMap { try? JSON.parse($0["body"]?.stringValue ?? "") }
    }

    func table(_ s: Setup) throws -> String {
        try s.stack.tables(like: "response_items_%").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func secondTurnReplaysTheFirstTurnsArtifactsFromTheMarkers() throws {
        let s = try setUp()
        let models = try s.admin.get("/models").json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        #expect(models.contains("openrouter/mock-gpt-4o"))
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        let first = try turn(s, chat: chat, "first question")
        #expect(first.contains { $0["type"]?.stringValue == "reasoning" })
        let done = try #require(first.last)
        #expect(done["type"]?.stringValue == "done")
        let stored = done["message"]?["content"]?.stringValue ?? ""
        #expect(stored.hasPrefix("Pipe answer to: first question"))
        #expect(stored.split(separator: "\n").filter { $0.hasSuffix("]: #") }.count == 3, "reasoning, call and output markers")

        _ = try turn(s, chat: chat, "second question")
        let requests = try responsesRequests(s)
        #expect(requests.count == 2)
        let input = requests[1]["input"]?.arrayValue ?? []
        let types = input.map { $0["type"]?.stringValue ?? "" }
        #expect(types == ["message", "reasoning", "function_call", "function_call_output", "message", "message"])
        #expect(input[1]["id"]?.stringValue == "rs_1")
        #expect(input[1]["encrypted_content"]?.stringValue == "opaque-1")
        #expect(
            input[4]["content"]?.arrayValue?.first?["text"]?.stringValue == "Pipe answer to: first question",
            "markers are not sent as text")
        // The key reached the mock as a bearer token, and the cache session id is an HMAC, not the chat id.
        let headers = try s.mock.requests().last { ($0["path"]?.stringValue ?? "").hasSuffix("/responses") }?["headers"]
        #expect(headers?["authorization"]?.stringValue == "Bearer sk-or-v1-pipe-key-0123456789")
        #expect(requests[1]["session_id"]?.stringValue?.count == 64)
    }

    @Test func artifactsAreEncryptedAndLargeOnesCompressed() throws {
        let s = try setUp(mockArgs: ["--reasoning-pad", "400"])
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        _ = try turn(s, chat: chat, "planted")
        for (name, data) in s.stack.persistedBytes() {
            #expect(!data.contains("REASONING about: planted"), "reasoning text in \(name)")
            #expect(!data.contains("TOOL-OUTPUT for planted"), "tool output in \(name)")
        }
        let t = try table(s)
        #expect(t.hasPrefix("response_items_openrouter_"))
        let rows = try s.stack.sql("SELECT id, item_type, is_encrypted, payload FROM \(t)")
            .split(separator: "\n").map { $0.split(separator: "|", maxSplits: 3).map(String.init) }
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0[2] == "1" })
        // Open the reasoning row the way the pipe does: it was LZ4-compressed before encryption.
        let reasoning = try #require(rows.first { $0[1] == "reasoning" })
        let envelope = try #require(try JSON.parse(reasoning[3])["ciphertext"]?.stringValue)
        let framed = try Keyring(current: artifactKey, previous: []).open(envelope, purpose: .artifact, place: "artifact/\(reasoning[0])")
        #expect(framed.first == 1, "large payload stored compressed")
    }

    @Test func encryptAllFalseEncryptsOnlyReasoning() throws {
        let s = try setUp(valves: ["ENCRYPT_ALL": false])
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        _ = try turn(s, chat: chat, "tooling")
        let t = try table(s)
        let rows = try s.stack.sql("SELECT item_type, is_encrypted FROM \(t) ORDER BY item_type")
        #expect(rows == "function_call|0\nfunction_call_output|0\nreasoning|1\n")
        let output = try s.stack.sql("SELECT payload FROM \(t) WHERE item_type = 'function_call_output'")
        #expect(output.contains("TOOL-OUTPUT for tooling"))
        for (name, data) in s.stack.persistedBytes() { #expect(!data.contains("REASONING about: tooling"), "reasoning in \(name)") }
    }

    @Test func changedWebuiSecretKeyMakesTheStoredKeyUndecryptableAndNothingIsSent() throws {
        let s = try setUp()
        let stored = try s.stack.sql("SELECT value FROM pipe_valves WHERE name = 'API_KEY'")
        #expect(stored.hasPrefix("encrypted:") && !stored.contains("pipe-key"))
        let valves = try s.admin.get("/admin/pipes/openrouter/valves")
        #expect(valves.json?["valves"]?["API_KEY"]?["fingerprint"]?.stringValue == "sk-or-v1-…6789")
        #expect(!valves.body.contains("pipe-key-0123"))

        try s.stack.restartResponder(["WEBUI_SECRET_KEY": "a-different-webui-secret-0123456789-xyz"])
        let admin = try s.stack.login("admin2@example.com", try s.stack.addUser("admin2@example.com", admin: true))
        let after = try admin.get("/admin/pipes/openrouter/valves").json?["valves"]?["API_KEY"]
        #expect(after?["error"]?.stringValue == "undecryptable")
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let r = try admin.post("/chats/\(chat)/messages", ["content": "hello", "model": "openrouter/mock-gpt-4o", "stream": false])
        #expect(r.status == 503 && r.errorCode == "pipe_key_undecryptable")
        for request in try s.mock.requests() {
            let authorization = request["headers"]?["authorization"]?.stringValue ?? ""
            #expect(!authorization.contains("encrypted:"))
        }
        #expect(try s.mock.requests().allSatisfy { !($0["path"]?.stringValue ?? "").hasSuffix("/responses") })
    }

    @Test func valveUpdatesFollowTheSecretRules() throws {
        let s = try setUp()
        let moved = try s.admin.put("/admin/pipes/openrouter/valves", ["valves": ["BASE_URL": .string(s.mock.baseURL + "/")]])
        #expect(moved.status == 200, "the same URL in another spelling is not a change")
        let masked = try s.admin.put("/admin/pipes/openrouter/valves", ["valves": ["API_KEY": "sk-or-v1-…6789"]])
        #expect(masked.errorCode == "masked_value_rejected")
        let elsewhere = try s.admin.put("/admin/pipes/openrouter/valves", ["valves": ["BASE_URL": "https://evil.example.com/api/v1"]])
        #expect(elsewhere.errorCode == "base_url_not_allowed")
        let short = try s.admin.put("/admin/pipes/openrouter/valves", ["valves": ["ARTIFACT_ENCRYPTION_KEY": "short"]])
        #expect(short.errorCode == "invalid_field")
        let cleared = try s.admin.put("/admin/pipes/openrouter/valves", ["clear": ["API_KEY"]])
        #expect(cleared.json?["valves"]?["API_KEY"]?["set"] == false)
    }

    @Test func identifiersAreSentOnlyWhenAsked() throws {
        let s = try setUp(valves: ["SEND_END_USER_ID": true, "SEND_CHAT_ID": true, "END_USER_ID_SOURCE": "email"])
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        _ = try turn(s, chat: chat, "who am i")
        let request = try #require(try responsesRequests(s).last)
        #expect(request["user"]?.stringValue == "admin@example.com")
        #expect(request["metadata"]?["chat_id"]?.stringValue == String(chat))
        #expect(request["metadata"]?["message_id"] == nil)
    }

    @Test func redisStoppedBetweenTurnsStillReplaysFromSQLite() throws {
        let s = try setUp()
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        _ = try turn(s, chat: chat, "before outage")
        #expect(try s.stack.redis(["--scan", "--pattern", "openrouter:artifact:*"]).split(separator: "\n").count == 3)
        try s.stack.stackCommand("redis-stop")
        let events = try turn(s, chat: chat, "during outage")
        #expect(events.last?["type"]?.stringValue == "done")
        let input = try responsesRequests(s).last?["input"]?.arrayValue ?? []
        #expect(input.contains { $0["id"]?.stringValue == "rs_1" })
    }

    @Test func sessionLogsAreEncryptedArchivesAndRetentionPrunesThem() throws {
        let s = try setUp(valves: ["SESSION_LOG_STORE_ENABLED": true, "SESSION_LOG_ZIP_PASSWORD": "zip-password-123"])
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        let events = try turn(s, chat: chat, "log me")
        let messageID = try #require(events.last?["message"]?["id"]?.intValue)
        let archive = s.stack.dir.appendingPathComponent("session_logs/1/\(chat)/\(messageID).zip").path
        #expect(FileManager.default.fileExists(atPath: archive))
        let good = try runCommand("/usr/bin/7z", ["t", "-pzip-password-123", archive])
        #expect(good.status == 0, "\(good.stdout)")
        let bad = try runCommand("/usr/bin/7z", ["t", "-pwrong-password", archive])
        #expect(bad.status != 0)
        let listing = try runCommand("/usr/bin/7z", ["l", "-slt", "-pzip-password-123", archive]).stdout
        #expect(listing.contains("meta.json") && listing.contains("logs.jsonl") && listing.contains("AES-256"))

        // Age both the archive and the artifacts past retention, then run the retention job.
        _ = try runCommand("/usr/bin/touch", ["-d", "200 days ago", archive])
        let t = try table(s)
        try s.stack.sql("UPDATE \(t) SET created_at = created_at - 400 * 86400")
        let cleanup = try s.stack.cli(["cleanup"])
        #expect(cleanup.status == 0)
        #expect(cleanup.stdout.contains("artifacts: removed 3"))
        #expect(cleanup.stdout.contains("session logs: removed 1"))
        #expect(!FileManager.default.fileExists(atPath: archive))
        #expect(
            !FileManager.default.fileExists(atPath: s.stack.dir.appendingPathComponent("session_logs/1/\(chat)").path),
            "empty folders go too")
    }

    @Test(.enabled(if: networkIsIsolated, "needs unshare -n"))
    func attachmentsGoThroughTheGuardAndRefusalsBecomeNotes() throws {
        let s = try setUp(env: ["SSRF_ALLOWED_CIDRS": "127.0.0.1/32", "ALLOW_INSECURE_HTTP": "true"])
        let patched = try s.admin.patch(
            "/admin/config",
            [
                "allow_insecure_http_hosts": .array([
                    .string("127.0.0.1:\(s.mock.port)"),
                    "169.254.169.254"
                ])
            ])
        #expect(patched.status == 200)
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        let events = try s.admin.streamEvents(
            "/chats/\(chat)/messages",
            [
                "content": "look at this", "model": "openrouter/mock-gpt-4o",
                "attachments": [
                    ["type": "image", "url": .string("http://127.0.0.1:\(s.mock.port)/__file?size=64&type=image/png")],
                    ["type": "image", "url": "http://169.254.169.254/latest/meta-data/"]
                ]
            ]
        ).compactMap { try? JSON.parse($0.data) }
        let done = try #require(events.last)
        #expect(done["type"]?.stringValue == "done")
        let content = done["message"]?["content"]?.stringValue ?? ""
        #expect(content.contains("169.254.169.254/latest/meta-data/ was not used (blocked_address"))
        let user = try #require(try responsesRequests(s).last?["input"]?.arrayValue?.last?["content"]?.arrayValue)
        #expect(
            user.contains {
                $0["type"]?.stringValue == "input_image"
                    && ($0["image_url"]?.stringValue ?? "").hasPrefix("data:image/png;base64,")
            })
        #expect(user.filter { $0["type"]?.stringValue == "input_image" }.count == 1)
    }
}
