import Foundation
import Support
import Synchronization
import Testing

/// A stack whose connections and OpenRouter pipe both talk to one mock provider, with an admin.
struct OrgStack {
    let mock: MockUpstream
    let stack: Stack
    let admin: Client

    init(mockArgs: [String] = [], env: [String: String] = [:]) throws {
        mock = try MockUpstream(["--delay", "0"] + mockArgs)
        var environment = ["OPENAI_ALLOWED_API_BASE_URLS": mock.baseURL, "WEBUI_SECRET_KEY": webuiKeyA]
        for (k, v) in env { environment[k] = v }
        stack = try Stack(env: environment)
        admin = try stack.signedIn("admin@example.com", admin: true)
    }

    /// A connection to the mock, limited to `allowed` (empty: everyone); returns its id.
    @discardableResult
    func connection(_ name: String, allowed: [Int] = []) throws -> Int {
        let r = try admin.post(
            "/admin/connections",
            [
                "name": .string(name), "kind": "openai", "base_url": .string(mock.baseURL), "api_key": "sk-org-test-key-0123456789",
                "allowed_groups": .array(allowed.map { JSON($0) })
            ])
        guard r.status == 201, let id = r.json?["id"]?.intValue else { throw StackError("connection: \(r.text)") }
        return id
    }

    func group(_ name: String, members: [Int] = [], quota: Int? = nil) throws -> Int {
        var body: [String: JSON] = ["name": .string(name), "members": .array(members.map { JSON($0) })]
        if let quota { body["daily_token_quota"] = JSON(quota) }
        let r = try admin.post("/admin/groups", .object(body))
        guard r.status == 201, let id = r.json?["id"]?.intValue else { throw StackError("group: \(r.text)") }
        return id
    }

    func pipe(allowed: [Int]) throws {
        let r = try admin.put(
            "/admin/pipes/openrouter/valves",
            [
                "valves": [
                    "BASE_URL": .string(mock.baseURL), "API_KEY": "sk-or-v1-pipe-key-0123456789",
                    "allowed_groups": .array(allowed.map { JSON($0) })
                ]
            ])
        guard r.status == 200 else { throw StackError("valves: \(r.text)") }
    }

    /// A user signed in with a cookie, and the same user's bearer client; returns the user's id.
    func user(_ email: String, admin isAdmin: Bool = false) throws -> (client: Client, id: Int) {
        let client = try stack.signedIn(email, admin: isAdmin)
        guard let id = try client.get("/auth/me").json?["user"]?["id"]?.intValue else { throw StackError("me") }
        return (client, id)
    }

    func bearer(_ email: String) throws -> Client {
        let token = try stack.cli(["token", "create", "--user", email]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let client = Client(base: stack.base)
        client.bearer = token
        return client
    }

    func models(_ client: Client) throws -> [String] {
        try client.get("/models").json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
    }

    /// Sends one chat message (`stream: false`) in a new chat: the status and error code.
    func message(_ client: Client, model: String, content: String = "hello") throws -> HTTPResult {
        guard let chat = try client.post("/chats", [:]).json?["id"]?.intValue else { throw StackError("no chat") }
        return try client.post("/chats/\(chat)/messages", ["content": .string(content), "model": .string(model), "stream": false])
    }

    func completion(_ client: Client, model: String, stream: Bool = false, extra: [String: JSON] = [:]) throws -> HTTPResult {
        var body: [String: JSON] = ["model": .string(model), "messages": [["role": "user", "content": "hi"]], "stream": .bool(stream)]
        for (k, v) in extra { body[k] = v }
        return try client.post("/chat/completions", .object(body))
    }

    func usage(_ client: Client, _ query: String = "") throws -> [JSON] {
        try client.get("/usage" + query).json?["usage"]?.arrayValue ?? []
    }
}

@Suite("Groups: the admin API, its input and its audit events", .serialized)
struct GroupsAPITests {
    let org: OrgStack
    init() throws { org = try OrgStack() }

    @Test func adminCreatesListsChangesAndDeletesGroups() throws {
        let alice = try org.user("alice@example.com")
        let bob = try org.user("bob@example.com")
        let created = try org.admin.post(
            "/admin/groups", ["name": "staff", "members": [.number(Double(alice.id))], "daily_token_quota": 5000])
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json?["id"]?.intValue)
        #expect(created.json?["source"] == "local" && created.json?["members"] == [.number(Double(alice.id))])
        #expect(created.json?["daily_token_quota"] == 5000)

        let listed = try org.admin.get("/admin/groups").json?["groups"]?.arrayValue ?? []
        #expect(listed.map { $0["name"] } == ["staff"])
        #expect(try org.admin.get("/admin/groups/\(id)").json?["name"] == "staff")

        let patched = try org.admin.patch("/admin/groups/\(id)", ["members": [.number(Double(bob.id)), .number(Double(alice.id))]])
        #expect(patched.status == 200 && patched.json?["members"] == [.number(Double(alice.id)), .number(Double(bob.id))])
        let cleared = try org.admin.patch("/admin/groups/\(id)", ["daily_token_quota": .null, "name": "people"])
        #expect(cleared.json?["daily_token_quota"] == .null && cleared.json?["name"] == "people")

        #expect(try org.admin.post("/admin/groups", ["name": "people"]).errorCode == "name_taken")
        #expect(try org.admin.delete("/admin/groups/\(id)").status == 204)
        for (method, path) in [("GET", "/admin/groups/\(id)"), ("PATCH", "/admin/groups/\(id)"), ("DELETE", "/admin/groups/\(id)")] {
            let body = method == "PATCH" ? Data(#"{"name":"x"}"#.utf8) : nil
            #expect(try org.admin.request(method, path, body: body).status == 404, "\(method) \(path)")
        }
        #expect(try org.admin.get("/admin/groups/abc").status == 404)

        // Each change is in the trail, with the quota's before and after.
        let events = try org.admin.get("/admin/audit?limit=50").json?["events"]?.arrayValue ?? []
        let done = events.filter { $0["outcome"] == "ok" }.compactMap { $0["action"]?.stringValue }
        #expect(done.filter { $0.hasPrefix("group.") } == ["group.delete", "group.update", "group.update", "group.create"])
        // The refused duplicate is recorded too, as a failure.
        #expect(events.contains { $0["action"] == "group.create" && $0["outcome"] != "ok" })
        let quotaChange = events.first { $0["action"] == "group.update" }?["details"]?["daily_token_quota"]
        #expect(quotaChange == ["before": 5000, "after": .null])
    }

    @Test func usersCannotReachTheGroupsAPI() throws {
        let alice = try org.user("mallory@example.com")
        let id = try org.group("secret-team")
        #expect(try alice.client.get("/admin/groups").status == 403)
        #expect(try alice.client.get("/admin/groups/\(id)").status == 403)
        #expect(try alice.client.post("/admin/groups", ["name": "mine"]).status == 403)
        #expect(try alice.client.patch("/admin/groups/\(id)", ["members": [.number(Double(alice.id))]]).status == 403)
        #expect(try alice.client.delete("/admin/groups/\(id)").status == 403)
        #expect(try Client(base: org.stack.base).get("/admin/groups").status == 401)
        #expect(try org.admin.get("/admin/groups/\(id)").json?["members"] == [])
    }

    @Test func hostileInputIsRefused() throws {
        let cases: [JSON] = [
            ["name": "neg", "daily_token_quota": -1], ["name": "huge", "daily_token_quota": .number(1e19)],
            ["name": "frac", "daily_token_quota": .number(1.5)], ["name": "str", "daily_token_quota": "100"],
            ["name": ""], ["name": "bad\nname"], ["name": .string(String(repeating: "n", count: 129))],
            ["name": "members", "members": [0]], ["name": "members2", "members": [-3]], ["name": "m3", "members": ["1"]],
            ["name": "m4", "members": [.number(1e300)]], ["name": "ghost", "members": [424_242]], ["name": "src", "source": "oidc"]
        ]
        for body in cases {
            let r = try org.admin.post("/admin/groups", body)
            #expect(r.status == 400 && r.errorCode == "invalid_field", "\(body.serialized()): \(r.status) \(r.text)")
        }
        #expect(try org.admin.get("/admin/groups").json?["groups"]?.arrayValue?.isEmpty == true)
        // A connection or the pipe cannot name a group that does not exist (it could be made later).
        let r = try org.admin.post(
            "/admin/connections",
            [
                "name": "c", "kind": "openai", "base_url": .string(org.mock.baseURL), "api_key": "sk-org-test-key-0123456789",
                "allowed_groups": [999]
            ])
        #expect(r.status == 400 && r.errorCode == "invalid_field" && r.json?["error"]?["field"] == "allowed_groups")
        let valves = try org.admin.put("/admin/pipes/openrouter/valves", ["valves": ["allowed_groups": [999]]])
        #expect(valves.status == 400, "\(valves.text)")
        let negative = try org.admin.put("/admin/pipes/openrouter/valves", ["valves": ["allowed_groups": [-1]]])
        #expect(negative.status == 400)
    }
}

@Suite("Model access by group on /models, chat messages and /chat/completions", .serialized)
struct ModelAccessTests {
    let org: OrgStack
    init() throws { org = try OrgStack() }

    @Test func onlyMembersSeeAndUseARestrictedConnectionAndThePipe() throws {
        let member = try org.user("member@example.com")
        let outsider = try org.user("outsider@example.com")
        let team = try org.group("team", members: [member.id])
        let connection = try org.connection("restricted", allowed: [team])
        try org.pipe(allowed: [team])

        let all = ["mock-gpt-4o", "mock-gpt-4o-mini", "openrouter/mock-gpt-4o", "openrouter/mock-gpt-4o-mini"]
        #expect(try org.models(member.client).sorted() == all)
        for client in [outsider.client, org.admin] {  // admins are bound too
            #expect(try org.models(client).isEmpty)
            for model in ["mock-gpt-4o", "openrouter/mock-gpt-4o"] {
                let r = try org.message(client, model: model)
                #expect(r.status == 403 && r.errorCode == "model_not_allowed", "\(model): \(r.text)")
            }
            let c = try org.completion(client, model: "mock-gpt-4o")
            #expect(c.status == 403 && c.errorCode == "model_not_allowed")
            let s = try org.completion(client, model: "mock-gpt-4o", stream: true)
            #expect(s.status == 403 && s.errorCode == "model_not_allowed")
        }
        #expect(try org.message(member.client, model: "mock-gpt-4o").status == 201)
        #expect(try org.message(member.client, model: "openrouter/mock-gpt-4o").status == 201)
        #expect(try org.completion(member.client, model: "mock-gpt-4o").status == 200)
        // A refused request never reached the provider, and stored nothing.
        #expect(try outsider.client.get("/chats").json?["chats"]?.arrayValue?.allSatisfy { $0["title"] == "" } == true)

        // An unrestricted connection serving the same model opens it to everyone: routing picks the one the caller may use.
        let open = try org.connection("open")
        #expect(try org.completion(outsider.client, model: "mock-gpt-4o").status == 200)
        #expect(try org.models(outsider.client).contains("mock-gpt-4o"))
        #expect(try org.admin.delete("/admin/connections/\(open)").status == 204)

        // Deleting the only allowed group closes the connection to everyone, never opens it.
        #expect(try org.admin.delete("/admin/groups/\(team)").status == 204)
        #expect(try org.completion(member.client, model: "mock-gpt-4o").errorCode == "model_not_allowed")
        #expect(try org.admin.get("/admin/connections/\(connection)").json?["allowed_groups"] == [.number(Double(team))])
        // Clearing the list opens it again.
        let put = try org.admin.put(
            "/admin/connections/\(connection)", ["allowed_groups": [], "api_key": "sk-org-test-key-0123456789"])
        #expect(put.status == 200, "\(put.text)")
        #expect(try org.completion(outsider.client, model: "mock-gpt-4o").status == 200)
    }

    @Test func allowedGroupsTravelInExportAndImport() throws {
        let team = try org.group("exported")
        try org.connection("travels", allowed: [team])
        let export = try org.admin.get("/admin/config/export")
        let entry = export.json?["connections"]?.arrayValue?.first { $0["name"] == "travels" }
        #expect(entry?["allowed_groups"] == [.number(Double(team))])
        let other = try org.group("other")
        let imported = try org.admin.post(
            "/admin/config/import",
            [
                "connections": [
                    ["name": "travels", "kind": "openai", "base_url": .string(org.mock.baseURL), "allowed_groups": [.number(Double(other))]]
                ]
            ])
        #expect(imported.status == 200, "\(imported.text)")
        let list = try org.admin.get("/admin/connections").json?["connections"]?.arrayValue ?? []
        #expect(list.first { $0["name"] == "travels" }?["allowed_groups"] == [.number(Double(other))])
        let bad = try org.admin.post(
            "/admin/config/import",
            ["connections": [["name": "travels", "kind": "openai", "base_url": .string(org.mock.baseURL), "allowed_groups": [77_777]]]])
        #expect(bad.status == 422 && bad.text.contains("connections[0].allowed_groups"))
    }
}
