import Foundation
import Support
import Testing

@Suite("Chats: streaming through nginx, storage, search, encryption at rest, isolation", .serialized)
struct ChatTests {
    func makeStack(_ upstream: MockUpstream, encrypted: Bool = false) throws -> (Stack, Client) {
        var env = ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL, "CONFIG_ENCRYPTION_KEY": encryptionKeyA]
        if encrypted { env["ENABLE_LOCAL_ENCRYPTION"] = "true" }
        let stack = try Stack(env: env)
        let admin = try stack.signedIn("admin@example.com", admin: true)
        let r = try admin.post(
            "/admin/connections",
            [
                "name": "mock", "kind": "openai", "base_url": .string(upstream.baseURL),
                "api_key": "sk-chat-test-0123456789abcd"
            ])
        guard r.status == 201 else { throw StackError("connection: \(r.text)") }
        return (stack, admin)
    }

    func newChat(_ client: Client) throws -> Int {
        guard let id = try client.post("/chats", [:]).json?["id"]?.intValue else { throw StackError("no chat") }
        return id
    }

    @Test func answerStreamsEventByEventAndBothMessagesAreStored() throws {
        let upstream = try MockUpstream(["--delay", "0.4"])
        let (stack, admin) = try makeStack(upstream)
        let chat = try newChat(admin)
        let events = try admin.streamEvents("/chats/\(chat)/messages", ["content": "Hello there", "model": "mock-gpt-4o"])
        let parsed = events.map { ($0.at, try? JSON.parse($0.data)) }
        let deltas = parsed.filter { $0.1?["type"]?.stringValue == "delta" }
        let done = try #require(parsed.last { $0.1?["type"]?.stringValue == "done" })
        #expect(deltas.count == 4)
        // The first event arrived well before the mock finished its 4 x 0.4 s answer.
        #expect(deltas[0].0 + 0.8 < done.0, "first delta at \(deltas[0].0), done at \(done.0)")
        let text = deltas.compactMap { $0.1?["text"]?.stringValue }.joined()
        #expect(text == "Mock answer to: Hello there")
        #expect(done.1?["message"]?["content"]?.stringValue == text)

        let stored = try admin.get("/chats/\(chat)").json
        let messages = stored?["messages"]?.arrayValue ?? []
        #expect(messages.map { $0["role"]?.stringValue } == ["user", "assistant"])
        #expect(messages.last?["status"]?.stringValue == "complete")
        #expect(stored?["title"]?.stringValue == "Hello there")
        let rows = try stack.sql("SELECT role || ':' || status FROM messages ORDER BY id")
        #expect(rows == "user:complete\nassistant:complete\n")
        // The provider got the user's text with the connection's key.
        let call = try #require(try upstream.requests().last { ($0["path"]?.stringValue ?? "").hasSuffix("/chat/completions") })
        #expect(call["headers"]?["authorization"]?.stringValue == "Bearer sk-chat-test-0123456789abcd")
        #expect(call["body"]?.stringValue?.contains("Hello there") == true)
    }

    @Test func nonStreamingAnswerAndUnknownModel() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream)
        defer { withExtendedLifetime(stack) {} }
        let chat = try newChat(admin)
        let r = try admin.post("/chats/\(chat)/messages", ["content": "plain", "model": "mock-gpt-4o", "stream": false])
        #expect(r.status == 201)
        #expect(r.json?["message"]?["content"]?.stringValue == "Mock answer to: plain")
        let unknown = try admin.post("/chats/\(chat)/messages", ["content": "x", "model": "no-such-model", "stream": false])
        #expect(unknown.status == 400 && unknown.errorCode == "unknown_model")
    }

    @Test func providerDyingMidStreamKeepsWhatArrivedMarkedIncomplete() throws {
        let upstream = try MockUpstream(["--delay", "0.05", "--cut-after", "2"])
        let (stack, admin) = try makeStack(upstream)
        defer { withExtendedLifetime(stack) {} }
        let chat = try newChat(admin)
        let events = try admin.streamEvents("/chats/\(chat)/messages", ["content": "cut me", "model": "mock-gpt-4o"]).compactMap {
            try? JSON.parse($0.data)
        }
        #expect(events.filter { $0["type"]?.stringValue == "delta" }.count == 2)
        let error = try #require(events.last)
        #expect(error["type"]?.stringValue == "error")
        #expect(error["error"]?["code"]?.stringValue?.hasPrefix("upstream") == true)
        let messages = try admin.get("/chats/\(chat)").json?["messages"]?.arrayValue ?? []
        #expect(messages.count == 2)
        #expect(messages.first?["content"]?.stringValue == "cut me")
        #expect(messages.last?["status"]?.stringValue == "incomplete")
        #expect(messages.last?["content"]?.stringValue == "Mock answer")
    }

    @Test func redisStoppedMidChatLosesNothing() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream)
        let chat = try newChat(admin)
        _ = try admin.streamEvents("/chats/\(chat)/messages", ["content": "before", "model": "mock-gpt-4o"])
        try stack.stackCommand("redis-stop")
        let events = try admin.streamEvents("/chats/\(chat)/messages", ["content": "during outage", "model": "mock-gpt-4o"])
        #expect(events.contains { $0.data.contains("\"done\"") })
        let messages = try admin.get("/chats/\(chat)").json?["messages"]?.arrayValue ?? []
        #expect(messages.count == 4)
        let contents = messages.compactMap { $0["content"]?.stringValue }
        #expect(contents.contains("during outage"))
    }

    @Test func searchFindsOwnChatsInPlaintextMode() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream)
        let chat = try newChat(admin)
        _ = try admin.post("/chats/\(chat)/messages", ["content": "the zebra crossing is blue", "model": "mock-gpt-4o", "stream": false])
        let found = try admin.get("/chats/search?q=zebra")
        #expect(found.status == 200)
        #expect(found.json?["results"]?.arrayValue?.first?["chat"]?["id"]?.intValue == chat)
        #expect(try admin.get("/chats/search?q=%22unbalanced").status == 200, "FTS syntax in the query is treated as text")
        #expect(try admin.get("/chats/search?q=").status == 400)
        let other = try stack.signedIn("b@example.com")
        #expect(try other.get("/chats/search?q=zebra").json?["results"]?.arrayValue?.isEmpty == true)
    }

    /// PostgreSQL's text cannot hold U+0000; a provider may still send it. Both engines, both
    /// modes, streamed or not: the answer is stored and read back with U+FFFD in its place.
    @Test(arguments: [false, true]) func aProvidersNulIsStoredAsAReplacementCharacter(encrypted: Bool) throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream, encrypted: encrypted)
        for stream in [false, true] {
            let chat = try newChat(admin)
            let body: JSON = ["content": "__nul__ please", "model": "mock-gpt-4o", "stream": .bool(stream)]
            if stream {
                let events = try admin.streamEvents("/chats/\(chat)/messages", body).compactMap { try? JSON.parse($0.data) }
                #expect(events.last?["type"] == "done", "\(events.last ?? .null)")
            } else {
                let r = try admin.post("/chats/\(chat)/messages", body)
                #expect(r.status == 201, "\(r.status) \(r.text)")
            }
            let messages = try admin.get("/chats/\(chat)").json?["messages"]?.arrayValue ?? []
            let answer = messages.last?["content"]?.stringValue ?? ""
            #expect(messages.last?["status"] == "complete" && answer.hasSuffix(" nul\u{FFFD}byte"), "\(messages.last ?? .null)")
        }
        if !encrypted {
            #expect(try admin.get("/chats/search?q=please").json?["results"]?.arrayValue?.count == 2)
        }
    }

    @Test func anotherUsersChatsAreInvisible() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, alice) = try makeStack(upstream)
        let chat = try newChat(alice)
        _ = try alice.post("/chats/\(chat)/messages", ["content": "alice secret plan", "model": "mock-gpt-4o", "stream": false])
        let bob = try stack.signedIn("bob@example.com")
        #expect(try bob.get("/chats").json?["chats"]?.arrayValue?.isEmpty == true)
        #expect(try bob.get("/chats/\(chat)").status == 404)
        #expect(try bob.patch("/chats/\(chat)", ["title": "mine now"]).status == 404)
        #expect(try bob.post("/chats/\(chat)/messages", ["content": "hi", "model": "mock-gpt-4o", "stream": false]).status == 404)
        #expect(try bob.delete("/chats/\(chat)").status == 404)
        #expect(try bob.get("/chats/search?q=alice").json?["results"]?.arrayValue?.isEmpty == true)
        let mine = try alice.get("/chats/\(chat)").json
        #expect(mine?["title"]?.stringValue == "alice secret plan")
        #expect(mine?["messages"]?.arrayValue?.count == 2)
    }

    @Test func encryptedModeKeepsNoPlaintextAndSearchAnswers409() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream, encrypted: true)
        let sentence = "PLANTED-sentence-\(UUID().uuidString)"
        let chat = try newChat(admin)
        _ = try admin.post("/chats/\(chat)/messages", ["content": .string(sentence), "model": "mock-gpt-4o", "stream": false])
        _ = try admin.patch("/chats/\(chat)", ["title": .string("title " + sentence)])
        let loaded = try admin.get("/chats/\(chat)").json
        #expect(loaded?["messages"]?.arrayValue?.first?["content"]?.stringValue == sentence)
        #expect(loaded?["title"]?.stringValue == "title " + sentence)
        let search = try admin.get("/chats/search?q=PLANTED")
        #expect(search.status == 409 && search.errorCode == "search_unavailable_encrypted")
        #expect(try stack.sql("SELECT COUNT(*) FROM chat_search") == "0\n")
        for (name, data) in stack.persistedBytes() { #expect(!data.contains(sentence), "planted sentence in \(name)") }
        // Sealed values are kept as BLOBs on SQLite (issue 14; PostgreSQL keeps the text envelope: a
        // column there holds one type), and the list reads the sealed title back.
        if stack.engine == .sqlite {
            let forms = try stack.sql(
                "SELECT DISTINCT typeof(content) FROM messages WHERE content_encrypted = 1 "
                    + "UNION ALL SELECT DISTINCT typeof(title) FROM chats WHERE title_encrypted = 1")
            #expect(forms == "blob\nblob\n")
        }
        #expect(try admin.get("/chats").json?["chats"]?.arrayValue?.first?["title"]?.stringValue == "title " + sentence)
    }

    @Test func switchingModesWithReencryptKeepsEveryMessage() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, admin) = try makeStack(upstream)
        let password = "switch-password-123456"
        try stack.addUser("s@example.com", password: password)
        var user = try stack.login("s@example.com", password)
        var sentences: [String] = []
        for i in 0..<3 {
            let chat = try newChat(user)
            let s = "SWITCH-\(i)-\(UUID().uuidString)"
            sentences.append(s)
            _ = try user.post("/chats/\(chat)/messages", ["content": .string(s), "model": "mock-gpt-4o", "stream": false])
        }
        func snapshot(_ client: Client) throws -> [String] {
            try client.get("/chats").json?["chats"]?.arrayValue?.flatMap { chat -> [String] in
                let id = chat["id"]?.intValue ?? 0
                return try client.get("/chats/\(id)").json?["messages"]?.arrayValue?.compactMap { $0["content"]?.stringValue } ?? []
            }.sorted() ?? []
        }
        let before = try snapshot(user)
        #expect(before.count == 6)
        _ = admin

        let encryptedEnv: [String: String?] = ["ENABLE_LOCAL_ENCRYPTION": "true"]
        try stack.restartResponder(encryptedEnv)
        let toEncrypted = try stack.cli(["reencrypt"], env: encryptedEnv)
        #expect(toEncrypted.status == 0)
        #expect(toEncrypted.stderr.contains("messages: 6/6"))
        user = try stack.login("s@example.com", password)
        #expect(try snapshot(user) == before)
        for s in sentences { for (name, data) in stack.persistedBytes() { #expect(!data.contains(s), "\(s) in \(name)") } }
        #expect(try user.get("/chats/search?q=SWITCH").status == 409)

        try stack.restartResponder(["ENABLE_LOCAL_ENCRYPTION": "false"])
        let toPlain = try stack.cli(["reencrypt"], env: ["ENABLE_LOCAL_ENCRYPTION": "false"])
        #expect(toPlain.status == 0)
        user = try stack.login("s@example.com", password)
        #expect(try snapshot(user) == before)
        let count = try stack.sql("SELECT COUNT(*) FROM messages WHERE content_encrypted = 0")
        #expect(count == "6\n")
        #expect(try user.get("/chats/search?q=\(sentences[1])").json?["results"]?.arrayValue?.count == 1)
    }

    @Test func openAICompatibleCompletionsPlainAndStreaming() throws {
        let upstream = try MockUpstream(["--delay", "0"])
        let (stack, _) = try makeStack(upstream)
        let token = try stack.cli(["token", "create", "--user", "admin@example.com"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let sdk = Client(base: stack.base)
        sdk.bearer = token
        let plain = try sdk.post(
            "/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi sdk"]], "user": "spoofed-id"])
        #expect(plain.status == 200)
        #expect(plain.json?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue == "Mock answer to: hi sdk")
        let forwarded = try upstream.requests().last?["body"]?.stringValue ?? ""
        #expect(!forwarded.contains("spoofed-id"))
        let events = try sdk.streamEvents(
            "/chat/completions", ["model": "mock-gpt-4o", "stream": true, "messages": [["role": "user", "content": "stream sdk"]]])
        #expect(events.last?.data == "[DONE]")
        #expect(events.count >= 5)
        #expect(
            try sdk.post("/chat/completions", ["model": "nope", "messages": [["role": "user", "content": "x"]]]).errorCode
                == "unknown_model")
        #expect(try Client(base: stack.base).post("/chat/completions", ["model": "mock-gpt-4o", "messages": []]).status == 401)
    }
}
